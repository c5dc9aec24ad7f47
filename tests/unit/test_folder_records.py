"""Folder records: a change by hand to something a stage made is seen. At rest only directories
are looked at (an entry added, removed or renamed moves its directory's time); a file edited in
place is left to the full check, which `check_every_file` and `sepflow verify` run."""

from __future__ import annotations

import json
import os

import pytest

from sepflow.errors import SepflowError
from sepflow.records import check_unchanged, folder_changes, mark_stale, source_changes, write_folder_record


def made(folder, names=("a.wav", "b.wav", "sub/c.wav")):
    for name in names:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(b"x" * 10)
    return folder


def test_added_missing_and_renamed_files_are_named_at_rest(tmp_path):
    folder = made(tmp_path / "enhanced")
    record = tmp_path / "enhanced.record.json"
    write_folder_record(folder, record)
    assert folder_changes(folder, record) == []
    (folder / "sub/c.wav").unlink()
    (folder / "d.wav").write_bytes(b"z")
    (folder / "b.wav").rename(folder / "e.wav")
    (folder / ".hidden.tmp").write_bytes(b"ignored")
    assert sorted(folder_changes(folder, record)) == [
        "added d.wav",
        "added e.wav",
        "missing b.wav",
        "missing sub/c.wav",
    ]


def test_a_new_subfolder_and_a_removed_one_are_seen(tmp_path):
    folder = made(tmp_path / "prepared")
    record = tmp_path / "prepared.record.json"
    write_folder_record(folder, record)
    (folder / "new").mkdir()
    assert folder_changes(folder, record) == ["added new/"]
    (folder / "new").rmdir()
    for name in ("c.wav",):
        (folder / "sub" / name).unlink()
    (folder / "sub").rmdir()
    assert folder_changes(folder, record) == ["missing sub/"]


def test_an_edit_in_place_is_left_to_the_full_check(tmp_path):
    folder = made(tmp_path / "prepared")
    record = tmp_path / "prepared.record.json"
    write_folder_record(folder, record)
    with open(folder / "sub/c.wav", "r+b") as f:  # same name, same inode: no directory's time moves
        f.truncate(4)
    assert folder_changes(folder, record) == []
    assert folder_changes(folder, record, every_file=True) == ["changed sub/c.wav"]


def test_a_file_replaced_under_its_own_name_is_seen_at_rest(tmp_path):
    folder = made(tmp_path / "prepared")
    record = tmp_path / "prepared.record.json"
    write_folder_record(folder, record)
    (folder / "new.tmp").write_bytes(b"y" * 3)
    os.replace(folder / "new.tmp", folder / "a.wav")  # as editors and atomic writers do
    assert folder_changes(folder, record) == ["changed a.wav"]


def test_a_changed_entry_put_back_as_it_was_is_no_change(tmp_path):
    folder = made(tmp_path / "prepared")
    record = tmp_path / "prepared.record.json"
    write_folder_record(folder, record)
    target, info = folder / "a.wav", (folder / "a.wav").stat()
    target.unlink()
    target.write_bytes(b"x" * 10)
    os.utime(target, ns=(info.st_atime_ns, info.st_mtime_ns))
    assert folder_changes(folder, record) == []


def test_a_record_of_an_earlier_version_is_compared_file_by_file(tmp_path):
    folder = made(tmp_path / "old")
    record = tmp_path / "old.record.json"
    write_folder_record(folder, record)
    files = json.loads(record.read_text().splitlines()[1])["files"]
    record.write_text(json.dumps(files, indent=0, sort_keys=True) + "\n")  # one document of files, as before
    assert folder_changes(folder, record) == []
    (folder / "a.wav").write_bytes(b"changed")
    assert folder_changes(folder, record) == ["changed a.wav"]


def test_marked_changes_stay_until_a_new_record(tmp_path):
    folder = made(tmp_path / "prepared")
    record = tmp_path / "prepared.record.json"
    write_folder_record(folder, record)
    mark_stale(record, ["changed a.wav (content hash)"])
    assert folder_changes(folder, record) == ["changed a.wav (content hash)"]
    write_folder_record(folder, record)
    assert folder_changes(folder, record) == []


def test_no_record_or_no_folder_means_nothing_to_compare(tmp_path):
    assert folder_changes(tmp_path / "absent", tmp_path / "absent.record.json") == []
    (tmp_path / "made").mkdir()
    assert folder_changes(tmp_path / "made", tmp_path / "made.record.json") == []


def test_the_users_files_are_listed_again_only_when_a_directory_of_theirs_moved(tmp_path):
    user = made(tmp_path / "user", ("train/clean/a.wav", "train/noisy/a.wav", "test/clean/b.wav"))
    files = sorted(str(p) for p in user.rglob("*.wav"))
    (tmp_path / "prepared").mkdir()
    record = tmp_path / "prepared.record.json"
    write_folder_record(tmp_path / "prepared", record, sources=files)
    listings = []

    def listed():
        listings.append(1)
        return sorted(str(p) for p in user.rglob("*.wav"))

    assert source_changes(record, listed) == [] and listings == []
    with open(user / "test/clean/b.wav", "r+b") as f:
        f.truncate(3)
    assert source_changes(record, listed) == [] and listings == []  # in place: the full check's
    assert source_changes(record, listed, every_file=True) == [f"changed {user.resolve()}/test/clean/b.wav"]
    (user / "test/noisy").mkdir()
    (user / "test/noisy/b.wav").write_bytes(b"n")
    assert source_changes(record, listed) == [f"added {user.resolve()}/test/noisy/b.wav"]  # clean/ did not move
    (user / "test/clean/new.tmp").write_bytes(b"replaced")
    os.replace(user / "test/clean/new.tmp", user / "test/clean/b.wav")  # saved by renaming: clean/ moved
    assert source_changes(record, listed) == [
        f"added {user.resolve()}/test/noisy/b.wav",
        f"changed {user.resolve()}/test/clean/b.wav",
    ]


def test_a_job_reading_a_folder_refuses_one_edited_in_place_naming_the_file_and_the_target(tmp_path):
    folder = made(tmp_path / "enhanced")
    record = tmp_path / "enhanced.record.json"
    write_folder_record(folder, record)
    check_unchanged(folder, record)
    with open(folder / "b.wav", "r+b") as f:
        f.truncate(2)
    with pytest.raises(SepflowError, match=rf"changed b\.wav\); .*`snakemake --forcerun {folder}`"):
        check_unchanged(folder, record)
