"""Real Snakemake runs of the tiny preset that are interrupted or run out of disk: a plain
rerun continues them (the README's command, no extra flags), a full disk is one
`sepflow error` line naming the folder with nothing partial left, and freeing space then
rerunning recovers byte-identically. A prepared folder deleted while its record remains is
remade by the target its message names."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from snakemake_runs import TINY, sepflow_errors, snakemake, snakemake_command, write_config

from sepflow.data.prepare import prepare_dataset
from sepflow.data.recipes import parse_dataset
from sepflow.files import host_name

pytestmark = pytest.mark.slow


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file's bytes (hidden ones aside: Snakemake's .snakemake_timestamp)."""
    files = sorted(p for p in folder.rglob("[!.]*") if p.is_file())
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in files}


def hidden_temporaries(folder: Path) -> list[Path]:
    return [p for p in folder.rglob(".*") if ".tmp" in p.name]


def running_script(pid: int, name: str) -> bool:
    """Whether a job of Snakemake `pid` runs the workflow script `name`."""
    for child in psutil.Process(pid).children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if any(part.endswith(name) for part in child.cmdline()):
                return True
    return False


def test_a_run_stopped_by_sigint_while_enhance_jobs_run_is_continued_by_a_plain_rerun(tiny_run):
    """SIGINT to Snakemake (as `kill -INT`, or Ctrl-C landing as a job finishes) lets the
    running jobs finish but leaves their outputs marked incomplete; profiles/default, which
    Snakemake loads on every run, makes the next plain run redo them."""
    workdir = tiny_run
    cmd = snakemake_command(workdir, "--cores", "2", "-R", "enhance", "--resources", "gpu=1")
    run = subprocess.Popen(cmd, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in run.stdout:
        if "rule enhance" in line:
            break
    while not running_script(run.pid, "enhance.py"):
        assert run.poll() is None, "the run ended before an enhance job started"
        time.sleep(0.05)
    run.send_signal(signal.SIGINT)  # to Snakemake alone: its running jobs finish
    output = line + run.communicate(timeout=600)[0]
    assert run.returncode != 0 and "Terminating processes on user request" in output
    incomplete = [base64.b64decode(p.name).decode() for p in (workdir / ".snakemake/incomplete").iterdir()]
    assert any((workdir / path).exists() for path in incomplete), "no finished output was left marked incomplete"
    redone = Path(next(path for path in incomplete if path.endswith("/enhanced")))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    leftover = workdir / redone.parent / f".enhanced.{host_name()}-{dead.stdout.strip()}.abcdef12.tmp"
    leftover.mkdir()  # a temporary folder a killed enhance job of that output left

    rerun = snakemake(workdir)  # the README's command: no --rerun-incomplete
    assert "workflow specific profile" in rerun.stderr and "profiles/default" in rerun.stderr
    assert not leftover.exists()
    dry = snakemake(workdir, "-n")
    assert "Nothing to be done" in dry.stdout + dry.stderr


def tiny_config(**dirs: str) -> dict:
    return {**TINY, **dirs}


def make(workdir: Path, target: str, check: bool = True) -> subprocess.CompletedProcess:
    """`snakemake TARGET --cores 2 --resources gpu=1` (targets go before --resources)."""
    cmd = snakemake_command(workdir, target, "--cores", "2", "--resources", "gpu=1")
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=900)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {target} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}")
    return proc


def test_a_full_data_disk_is_one_line_and_a_rerun_after_freeing_space_recovers_byte_identically(tmp_path, small_disk):
    disk = small_disk(tmp_path / "disk", "1m")
    data = disk / "data"
    write_config(tmp_path, tiny_config(data_dir=str(data)))
    full = make(tmp_path, "all_data", check=False)
    assert full.returncode != 0
    errors = sepflow_errors(full)
    assert len(errors) == 1 and errors[0].startswith(
        f"sepflow error in rule prepare: no space left on the disk of {data / 'audio'} ("
    )
    assert "free space there" in errors[0] and "Traceback" not in full.stderr
    assert [p.name for p in (data / "audio").iterdir()] == [".demo.partial"]  # no corpus, kept for the rerun
    assert hidden_temporaries(data) == []

    small_disk.resize(disk, "32m")
    make(tmp_path, "all_data")
    as_the_rule_gives_it = json.loads(json.dumps(TINY["datasets"]["demo"], sort_keys=True))  # canonical JSON
    reference = prepare_dataset(
        parse_dataset(as_the_rule_gives_it, "datasets.x"),
        tmp_path / "reference/demo",
        tmp_path / "raw",
        seed=7,
    )
    assert snapshot(data / "audio/demo") == snapshot(reference)
    assert sorted(p.name for p in (data / "audio").iterdir()) == ["demo", "demo.record.json"]

    # The prepared folder deleted by hand while its record and the manifests made from it stay:
    # the plan sees it gone and remakes it (deterministically) before what reads it.
    make(tmp_path, "all_manifests")
    shutil.rmtree(data / "audio/demo")
    model = "results/tiny/model.pt"
    remade = make(tmp_path, model)
    assert f"went missing ({data / 'audio/demo'}" in remade.stderr
    assert (tmp_path / model).is_file() and snapshot(data / "audio/demo") == snapshot(reference)


def test_a_full_results_disk_stops_training_with_one_line_and_a_rerun_finishes_it(tmp_path, small_disk):
    results = small_disk(tmp_path / "results", "256k")
    write_config(tmp_path, tiny_config(results_dir=str(results)))
    model = results / "tiny/model.pt"
    full = make(tmp_path, str(model), check=False)
    errors = sepflow_errors(full)
    assert len(errors) == 1 and errors[0].startswith(
        f"sepflow error in rule train_model: no space left on the disk of {results / 'tiny'}"
    )
    assert "Traceback" not in full.stderr and not model.exists()
    assert hidden_temporaries(results) == []
    small_disk.resize(results, "64m")
    make(tmp_path, str(model))
    assert model.is_file() and "step      6/6" in (results / "tiny/logs/train.log").read_text()
    assert not os.path.exists(results / "tiny/train/.last.pt.tmp")
