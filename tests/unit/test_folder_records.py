"""Folder records and stale outputs: a change by hand to something a stage made is seen,
and nothing stays that was made from a file that is gone."""

from __future__ import annotations

from sepflow.files import folder_changes, remove_outputs_missing_inputs, write_folder_record


def test_changes_added_missing_and_rewritten_files_are_named(tmp_path):
    folder = tmp_path / "enhanced"
    (folder / "sub").mkdir(parents=True)
    for name in ("a.wav", "b.wav", "sub/c.wav"):
        (folder / name).write_bytes(b"x" * 10)
    write_folder_record(folder, tmp_path / "enhanced.record.json")
    assert folder_changes(folder, tmp_path / "enhanced.record.json") == []
    (folder / "a.wav").write_bytes(b"y" * 9)
    (folder / "sub/c.wav").unlink()
    (folder / "d.wav").write_bytes(b"z")
    (folder / ".hidden.tmp").write_bytes(b"ignored")
    assert sorted(folder_changes(folder, tmp_path / "enhanced.record.json")) == [
        "added d.wav",
        "changed a.wav",
        "missing sub/c.wav",
    ]


def test_no_record_or_no_folder_means_nothing_to_compare(tmp_path):
    assert folder_changes(tmp_path / "absent", tmp_path / "absent.record.json") == []
    (tmp_path / "made").mkdir()
    assert folder_changes(tmp_path / "made", tmp_path / "made.record.json") == []


def test_outputs_of_missing_inputs_are_removed_down_the_chain(tmp_path):
    paths = {name: tmp_path / name for name in ("manifest", "model", "enhanced", "metrics", "report", "other")}
    for name in ("model", "enhanced", "metrics", "report", "other"):
        paths[name].write_text(name)
    made_from = {
        str(paths["model"]): [str(paths["manifest"])],  # the manifest is gone
        str(paths["enhanced"]): [str(paths["model"])],
        str(paths["metrics"]): [str(paths["enhanced"])],
        str(paths["report"]): [str(paths["metrics"]), str(paths["other"])],
        str(paths["other"]): [],
    }
    removed = remove_outputs_missing_inputs(made_from)
    assert sorted(removed) == sorted(str(paths[n]) for n in ("model", "enhanced", "metrics", "report"))
    assert paths["other"].exists()
