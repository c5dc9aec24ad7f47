"""A changed input is seen and redone, and looking never changes a file.

On the shared finished tiny run: after a file is added to, deleted from or rewritten in a folder
a stage made, or a config value changes, a dry run, lint, summary and list-changes leave every
file byte-identical, and the dry run plans exactly the jobs that depend on the change; a real
run then redoes them. And the graph the stale check walks is the DAG Snakemake builds, for the
tiny config and every preset.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from snakemake_runs import REPO, TINY, snakemake, write_config

from sepflow.plan import build_plan
from sepflow.plan.graph import jobs

LOOKS = (["-n"], ["--lint"], ["--summary"], ["--list-changes", "params"])


def snapshot(workdir: Path) -> dict[str, str]:
    """Every file outside Snakemake's own folder, by content."""
    return {
        str(path.relative_to(workdir)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(workdir.rglob("*"))
        if path.is_file() and ".snakemake" not in path.relative_to(workdir).parts
    }


def planned(proc) -> list[tuple[str, str]]:
    """(rule, first output) of every job a dry run plans."""
    text = proc.stdout + proc.stderr
    blocks = re.findall(r"^(?:local)?rule (\w+):\n((?:    .*\n)+)", text, flags=re.M)
    found = []
    for rule, body in blocks:
        output = re.search(r"^    output: ([^,\n]+)", body, flags=re.M)
        if rule != "all":
            found.append((rule, output.group(1) if output else ""))
    return sorted(found)


def keep_times(path: Path) -> Callable[[], None]:
    """Put `path` back as it was, bytes and times (so its folder matches its record again)."""
    data, info = path.read_bytes(), path.stat()

    def restore() -> None:
        path.write_bytes(data)
        os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))

    return restore


def add_to_prepared(workdir: Path) -> Callable[[], None]:
    extra = workdir / "data/audio/demo/dns/noise/extra.wav"
    shutil.copy(next((workdir / "data/audio/demo/dns/noise").glob("*.wav")), extra)
    return extra.unlink


def delete_from_prepared(workdir: Path) -> Callable[[], None]:
    target = sorted((workdir / "data/audio/demo/valid/clean").glob("*.wav"))[0]
    restore = keep_times(target)
    target.unlink()
    return restore


def rewrite_enhanced(workdir: Path) -> Callable[[], None]:
    """Saved over by a program that writes a new file and renames it, as editors do (an edit in
    place moves no directory's time: the evaluation that reads it and `sepflow verify` see it)."""
    target = sorted((workdir / "results/tiny/demo/test/enhanced").glob("*.wav"))[0]
    restore = keep_times(target)
    (target.parent / "saved.tmp").write_bytes(target.read_bytes()[:-64])
    os.replace(target.parent / "saved.tmp", target)
    return restore


def change_a_training_value(workdir: Path) -> Callable[[], None]:
    changed = yaml.safe_load(yaml.safe_dump(TINY))
    changed["experiments"]["other"]["train"]["lr"] = 0.002
    write_config(workdir, changed)
    return lambda: write_config(workdir, TINY)


CHANGES = {  # how to change the finished run; the output whose job must run again
    "a file added to a prepared folder": (add_to_prepared, "data/audio/demo"),
    "a file deleted from a prepared folder": (delete_from_prepared, "data/audio/demo"),
    "a file rewritten in an enhanced folder": (rewrite_enhanced, "results/tiny/demo/test/enhanced"),
    "a config value changed": (change_a_training_value, "results/other/model.pt"),
}


def expected_jobs(change: str) -> list[tuple[str, str]]:
    """(rule, first output) of the job that made the changed output and of every job after it,
    from the plan's graph (a model's export follows its scores, and the exported row its export)."""
    needed = plan_graph_jobs(TINY)
    redone = {job for job in needed if CHANGES[change][1] in job.outputs}
    grown = True
    while grown:
        made = {path for job in redone for path in job.outputs}
        after = {job for job in needed if made & set(job.inputs)}
        grown = not after <= redone
        redone |= after
    return sorted((job.rule, job.outputs[0]) for job in redone)


@pytest.mark.slow
@pytest.mark.parametrize("change", list(CHANGES))
def test_looking_changes_no_file_and_the_dry_run_plans_what_depends_on_the_change(tiny_run, change):
    restore = CHANGES[change][0](tiny_run)
    try:
        before = snapshot(tiny_run)
        for look in LOOKS:
            proc = snakemake(tiny_run, *look)
            assert snapshot(tiny_run) == before, f"snakemake {' '.join(look)} changed files"
            if look == ["-n"]:
                assert planned(proc) == expected_jobs(change)
    finally:
        restore()
    assert "Nothing to be done" in (lambda p: p.stdout + p.stderr)(snakemake(tiny_run, "-n"))


@pytest.mark.slow
def test_a_file_deleted_from_a_prepared_folder_is_remade_with_everything_after_it(tiny_run):
    target = sorted((tiny_run / "data/audio/demo/valid/clean").glob("*.wav"))[0]
    original = target.read_bytes()
    target.unlink()
    proc = snakemake(tiny_run)
    assert "data/audio/demo changed since it was made (missing valid/clean/" in proc.stderr
    assert planned(proc) == expected_jobs("a file deleted from a prepared folder")
    assert target.read_bytes() == original  # remade, deterministically
    assert "Nothing to be done" in (lambda p: p.stdout + p.stderr)(snakemake(tiny_run, "-n"))


def dag_of(workdir: Path, config: dict) -> set[tuple[str, frozenset, frozenset]]:
    """Every job Snakemake plans for a forced full run: (rule, outputs, inputs)."""
    write_config(workdir, config)
    proc = snakemake(workdir, "-n", "-F")
    found = set()
    for rule, body in re.findall(r"^(?:local)?rule (\w+):\n((?:    .*\n)+)", proc.stdout + proc.stderr, flags=re.M):
        fields = dict(re.findall(r"^    (input|output): (.*)$", body, flags=re.M))
        if rule != "all":
            split = lambda text: frozenset(filter(None, (p.strip() for p in text.split(",")))) if text else frozenset()  # noqa: E731
            found.add((rule, split(fields.get("output", "")), split(fields.get("input", ""))))
    return found


def plan_graph_jobs(config: dict) -> set:
    """The plan's jobs that the report needs (a dataset's unused splits get no job in the DAG)."""
    graph = list(jobs(build_plan(config)))
    producer = {output: job for job in graph for output in job.outputs}
    needed, todo = set(), [job for job in graph if job.rule == "report"]
    while todo:
        job = todo.pop()
        if job in needed:
            continue
        needed.add(job)
        todo += [producer[path] for path in job.inputs if path in producer]
    return needed


def plan_graph(config: dict) -> set[tuple[str, frozenset, frozenset]]:
    return {(job.rule, frozenset(job.outputs), frozenset(job.inputs)) for job in plan_graph_jobs(config)}


PRESETS = ["config.yaml", *sorted(f"config/{p.name}" for p in (REPO / "config").glob("*.yaml"))]


@pytest.mark.slow
@pytest.mark.parametrize("preset", PRESETS)
def test_the_stale_check_walks_the_dag_snakemake_builds(tmp_path, preset):
    config = yaml.safe_load((REPO / preset).read_text())
    assert dag_of(tmp_path, config) == plan_graph(config)
