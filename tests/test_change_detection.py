"""Change detection at corpus scale, on a finished run over a user's own folder.

At rest each invocation looks at directories, not files: a file added to or deleted from the
user's folder is seen and redoes exactly what depends on it. A file edited in place moves no
directory's time: the first job that reads it stops with one line naming it, `sepflow verify`
names it, and `--fix` has the next run redo it and what depends on it (so does a run with
`check_every_file`). A finished project copied whole elsewhere has nothing to do. The user's
folder is listed when the config is read only until it is prepared.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from snakemake_runs import sepflow_errors, snakemake, write_config
from test_user_folders import config, make_user_folder

from sepflow.cli import main

DEPENDENTS = {"prepare": 1, "manifest": 3, "train_model": 1, "enhance": 2, "evaluate": 2, "report": 1}
"""What a change to the prepared dataset `mine` redoes: its splits, the model trained on it, both
experiments' test set and the report."""


def planned_jobs(proc) -> dict[str, int]:
    """rule -> job count, from a dry run's job stats table (empty when there is nothing to do)."""
    text = proc.stdout + proc.stderr
    if "Job stats:" not in text:
        return {}
    table = text.split("Job stats:")[1].split("total")[0]
    return {rule: int(n) for rule, n in re.findall(r"^(\w+)\s+(\d+)$", table, flags=re.M) if rule != "all"}


def nothing_to_do(workdir: Path) -> bool:
    proc = snakemake(workdir, "-n")
    return "Nothing to be done" in proc.stdout + proc.stderr


def verify(capsys, workdir: Path, *flags: str) -> tuple[int, list[str]]:
    """`sepflow verify` in the project: its exit status and the lines it printed."""
    capsys.readouterr()
    status = main(["verify", "--directory", str(workdir), *flags])
    return status, capsys.readouterr().err.splitlines()


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> tuple[Path, Path]:
    """(project folder, user's folder): the user-folder config run to its report."""
    root = tmp_path_factory.mktemp("scale")
    user = make_user_folder(root / "my_corpus")
    workdir = root / "run"
    workdir.mkdir()
    write_config(workdir, config(user))
    snakemake(workdir)
    return workdir, user


@pytest.mark.slow
def test_a_file_added_to_or_deleted_from_the_users_folder_redoes_what_depends_on_it(finished):
    workdir, user = finished
    added = [user / "train" / side / "train_9.wav" for side in ("clean", "noisy")]
    for path in added:
        shutil.copy2(user / "train" / path.parent.name / "train_0.wav", path)
    proc = snakemake(workdir, "-n")
    assert planned_jobs(proc) == DEPENDENTS
    assert "the files data/audio/mine was prepared from changed (added " in proc.stderr
    for path in added:
        path.unlink()
    assert nothing_to_do(workdir)  # the directories moved, their files are as recorded

    deleted = user / "test/noisy/test_1.wav"
    data, info = deleted.read_bytes(), deleted.stat()
    deleted.unlink()
    assert planned_jobs(snakemake(workdir, "-n")) == DEPENDENTS
    deleted.write_bytes(data)
    os.utime(deleted, ns=(info.st_atime_ns, info.st_mtime_ns))
    assert nothing_to_do(workdir)


@pytest.mark.slow
def test_a_file_edited_in_place_is_caught_by_its_reader_and_by_verify_and_fix_redoes_it(finished, capsys):
    workdir, _ = finished
    edited = workdir / "data/audio/mine/valid/noisy/valid_1.wav"
    original = edited.read_bytes()
    with open(edited, "r+b") as f:  # same file, same name: no directory's time moves
        f.truncate(len(original) // 2)
    assert nothing_to_do(workdir)  # at rest, directories only
    every_file = snakemake(workdir, "-n", "--config", "check_every_file=True")
    assert planned_jobs(every_file) == DEPENDENTS

    trained = snakemake(workdir, "--forcerun", "results/tiny/model.pt", check=False)
    errors = sepflow_errors(trained)
    assert trained.returncode != 0 and len(errors) == 1, trained.stderr[-3000:]
    assert "data/audio/mine/valid/noisy/valid_1.wav (mine/valid) has" in errors[0]
    assert "snakemake --forcerun" in errors[0] and "data/audio/mine" in errors[0]

    status, lines = verify(capsys, workdir)
    assert status == 1 and any("data/audio/mine: changed valid/noisy/valid_1.wav" in line for line in lines)
    assert verify(capsys, workdir, "--fix")[0] == 0
    assert planned_jobs(snakemake(workdir, "-n")) == {**DEPENDENTS, "train_model": 1}
    snakemake(workdir)
    assert edited.read_bytes() == original  # prepared again from the user's file
    assert verify(capsys, workdir, "--hash")[0] == 0 and nothing_to_do(workdir)


@pytest.mark.slow
def test_a_finished_project_copied_whole_elsewhere_has_nothing_to_do(finished, tmp_path):
    workdir, _ = finished
    copy = tmp_path / "scratch" / "run"
    shutil.copytree(workdir, copy, symlinks=True)  # as cp -a and rsync -a: times kept
    assert nothing_to_do(copy)


@pytest.mark.slow
def test_the_users_folder_is_listed_when_the_config_is_read_only_until_it_is_prepared(finished, tmp_path):
    workdir, user = finished
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    write_config(fresh, config(user))
    lonely = user / "valid/clean/valid_7.wav"
    shutil.copy2(user / "valid/clean/valid_0.wav", lonely)
    try:
        proc = snakemake(fresh, "-n", check=False)
        assert proc.returncode != 0
        said = proc.stdout + proc.stderr
        assert "datasets.mine.splits.valid: clean/ and noisy/ of" in said and "valid_7" in said

        prepared = snakemake(workdir, "-n")  # prepared already: no listing at config time; the change is seen
        assert planned_jobs(prepared) == DEPENDENTS
        run = snakemake(workdir, check=False)
        errors = sepflow_errors(run)
        assert run.returncode != 0 and len(errors) == 1 and "valid_7" in errors[0], run.stderr[-3000:]
        assert "every file needs its pair" in errors[0]
    finally:
        lonely.unlink()
    snakemake(workdir)  # the failed preparation redone, with what depends on it
    assert nothing_to_do(workdir)
