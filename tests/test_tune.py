"""Hyper-parameter search as a stage, through the real workflow: trials are Snakemake jobs that
share one Optuna study in a journal file, run side by side, survive a SIGKILL, continue on a
rerun, prune, and hand the best trial's model to the experiment (enhanced, evaluated, reported).
"""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import optuna
import pandas as pd
import pytest
import torch
import yaml
from snakemake_runs import TINY, snakemake, snakemake_command, write_config

from sepflow.plan import build_plan
from sepflow.tune.paths import parse_path
from sepflow.tune.study import open_storage

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]

JOURNAL = "studies/searched.journal"


def search_config(trials: int, steps: int, params: dict, metric: str = "pesq_wb", **tune) -> dict:
    """The tiny preset's data and input row, and one gatewave experiment searched with `params`."""
    config = copy.deepcopy(TINY)
    config["experiments"] = {
        "noisy": TINY["experiments"]["noisy"],
        "searched": {
            "model": "gatewave",
            "args": {"hidden": 4, "depth": 2},
            "data": {"dataset": "demo", "train": "train", "valid": "valid"},
            "train": {
                "steps": steps,
                "batch_size": 2,
                "segment": 0.5,
                "lr": 0.001,
                "loss": {"name": "sum", "terms": [{"name": "l1", "weight": 1.0}, {"name": "mrstft", "weight": 1.0}]},
                "valid_every": 3,
                "log_every": 3,
                "examples": 0,
            },
            "test_sets": ["demo/test"],
            "tune": {"params": params, "metric": metric, "trials": trials, **tune},
        },
    }
    return config


WEIGHTS = {
    "train.loss.terms[0].weight": {"type": "float", "low": 0.1, "high": 1.0},
    "train.loss.terms[1].weight": {"type": "float", "low": 0.1, "high": 1.0},
}


def run(workdir: Path, target: str, cores: int = 2) -> subprocess.CompletedProcess:
    """One target of the workflow (targets go before --resources, so this one gives none: on
    CPU the trials take no gpu)."""
    proc = subprocess.run(
        snakemake_command(workdir, target, "--cores", str(cores)), cwd=workdir, capture_output=True, text=True
    )
    assert proc.returncode == 0, f"snakemake {target} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    return proc


def load_study(workdir: Path, config: dict) -> optuna.Study:
    name = build_plan(config).experiment("searched").system.study_name("searched")
    return optuna.load_study(study_name=name, storage=open_storage(str(workdir / JOURNAL)))


def records(workdir: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((workdir / "results/searched/tune/trials").glob("*.json"))]


def value_at(tree: dict, path: str):
    for part in parse_path(path):
        tree = tree[part]
    return tree


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    """Four trials, two at a time (the trials alone first, so nothing else shares the cores),
    then the rest of the run to its report."""
    workdir = tmp_path_factory.mktemp("searched")
    config = search_config(trials=4, steps=6, params=WEIGHTS, pruner={"name": "none"})  # pruning: its own test
    write_config(workdir, config)
    run(workdir, "all_manifests")
    run(workdir, "all_tuned")
    snakemake(workdir)
    return workdir, config


def test_two_trial_jobs_at_once_share_one_study_and_never_evaluate_the_same_trial_twice(searched):
    workdir, config = searched
    study = load_study(workdir, config)
    trials = study.get_trials()
    assert [t.state.name for t in trials] == ["COMPLETE"] * 4
    numbers = sorted(record["number"] for record in records(workdir))
    assert numbers == [0, 1, 2, 3], "each slot holds its own trial"
    assert sorted(t.user_attrs["slot"] for t in trials) == [0, 1, 2, 3]
    assert len({t.user_attrs["pid"] for t in trials}) == 4, "one process per trial"
    assert len({tuple(sorted(t.params.items())) for t in trials}) == 4, "seeded per slot: no two draws alike"
    spans = sorted((t.datetime_start, t.datetime_complete) for t in trials)
    assert any(later[0] < earlier[1] for earlier, later in zip(spans, spans[1:])), f"no two trials ran at once: {spans}"
    for record in records(workdir):
        log = (workdir / f"results/searched/logs/tune_trial_{record['slot']}.log").read_text()
        assert f"trial {record['number']} of study {study.study_name}" in log


def test_the_best_parameters_file_equals_the_studys_best_trial(searched):
    workdir, config = searched
    best = load_study(workdir, config).best_trial
    section = yaml.safe_load((workdir / "results/searched/tune/best.yaml").read_text())
    assert {path: value_at(section, path) for path in best.params} == best.params
    assert section["train"]["steps"] == 6
    pasted = copy.deepcopy(config)
    pasted["experiments"]["pasted"] = {**section, "test_sets": ["demo/test"]}
    assert build_plan(pasted).experiment("pasted").system.train["loss"]["terms"][1]["weight"] == value_at(
        section, "train.loss.terms[1].weight"
    )
    table = pd.read_csv(workdir / "results/searched/tune/trials.csv")
    (row,) = table[table["best"]].to_dict("records")
    assert (row["number"], row["value"]) == (best.number, best.value)


def test_the_experiments_model_is_the_best_trials(searched):
    workdir, config = searched
    best = load_study(workdir, config).best_trial
    kept = workdir / f"results/searched/tune/trials/{best.user_attrs['slot']}/train/best.pt"
    assert (workdir / "results/searched/model.pt").read_bytes() == kept.read_bytes()
    checkpoint = torch.load(kept, weights_only=True)
    assert checkpoint["step"] == best.user_attrs["best_step"]


def test_the_tuned_model_is_scored_and_reported_with_a_tuning_section(searched):
    workdir, _ = searched
    summary = pd.read_csv(workdir / "results/report/summary.csv")
    assert "searched" in set(summary["experiment"])
    page = (workdir / "results/report/index.html").read_text()
    assert "<h2>Tuning searched</h2>" in page
    assert 'alt="Optimisation history"' in page and 'alt="Parameter importances (fANOVA)"' in page
    for plot in ("optimization_history.png", "param_importances.png"):
        assert (workdir / "results/searched/tune" / plot).read_bytes()[:4] == b"\x89PNG"


def test_a_rerun_after_all_trials_finished_does_nothing(searched):
    workdir, _ = searched
    journal = (workdir / JOURNAL).read_bytes()
    proc = snakemake(workdir)
    assert "Nothing to be done" in proc.stdout + proc.stderr
    assert (workdir / JOURNAL).read_bytes() == journal


def test_more_trials_plan_only_the_new_slot_and_what_stands_on_the_outcome(searched):
    workdir, config = searched
    more = copy.deepcopy(config)
    more["experiments"]["searched"]["tune"]["trials"] = 5
    write_config(workdir, more)
    try:
        text = (lambda p: p.stdout + p.stderr)(snakemake(workdir, "-n"))
    finally:
        write_config(workdir, config)
    trial_jobs = [line for line in text.splitlines() if line.strip().startswith("output: results/searched/tune/trials")]
    assert trial_jobs == ["    output: results/searched/tune/trials/4.json"]


def run_until_a_trial_reports(workdir: Path, config: dict) -> tuple[int, dict]:
    """Start the search and SIGKILL the first trial's process once it has reported a validation;
    return the killed trial's number and parameters."""
    proc = subprocess.Popen(
        snakemake_command(workdir, "--cores", "2", "all_tuned"),
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and proc.poll() is None:
            if (workdir / JOURNAL).exists():
                running = [t for t in load_study(workdir, config).get_trials() if t.state.name == "RUNNING"]
                reported = [t for t in running if len(t.intermediate_values) >= 2]
                if reported:
                    os.kill(reported[0].user_attrs["pid"], signal.SIGKILL)
                    proc.wait(timeout=600)
                    return reported[0].number, reported[0].params
            time.sleep(0.2)
        raise AssertionError(f"no trial reported twice before the run ended:\n{proc.stdout.read().decode()[-3000:]}")
    finally:
        proc.kill()


def test_a_sigkilled_trial_is_marked_failed_and_its_parameters_asked_again_on_the_rerun(tmp_path):
    config = search_config(trials=2, steps=60, params=WEIGHTS, metric="valid_loss")
    write_config(tmp_path, config)
    run(tmp_path, "all_manifests")
    killed, params = run_until_a_trial_reports(tmp_path, config)
    dead = load_study(tmp_path, config).trials[killed]
    assert dead.state.name == "RUNNING", "the journal has no heartbeat: the dead trial looks alive"

    run(tmp_path, "all_tuned")
    trials = load_study(tmp_path, config).get_trials()
    assert trials[killed].state.name == "FAIL"
    (again,) = [t for t in trials if t.user_attrs.get("retry_of") == killed]
    assert again.params == params and again.state.name == "COMPLETE"
    assert sorted(record["number"] for record in records(tmp_path)) == sorted(
        t.number for t in trials if t.state.name == "COMPLETE"
    )
    log = (tmp_path / f"results/searched/logs/tune_trial_{again.user_attrs['slot']}.log").read_text()
    resumed = int(log.split(f"resuming trial {killed}'s training at step ")[1].split()[0])
    assert resumed >= 3, "the dead trial's last.pt was used"
    assert {s: v for s, v in again.intermediate_values.items() if s <= resumed} == {
        s: v for s, v in dead.intermediate_values.items() if s <= resumed
    }, "its reports before the resumed step are replayed"
    table = pd.read_csv(tmp_path / "results/searched/tune/trials.csv")
    assert table.set_index("number").loc[killed, "note"] == f"its job died; asked again as trial {again.number}"


def test_pruning_stops_a_trial_whose_curve_is_worse_than_the_median(tmp_path):
    """Crafted: two trials learn at lr 3e-3, then one hardly moves at lr 1e-7 (enqueued in that order
    before the run); with the median pruner after two trials, the third stops at its first report."""
    lr = {"train.lr": {"type": "categorical", "choices": [3.0e-3, 1.0e-7]}}
    config = search_config(trials=3, steps=30, params=lr, metric="valid_loss", pruner={"startup_trials": 2})
    write_config(tmp_path, config)
    plan = build_plan(config)
    study = optuna.create_study(
        study_name=plan.experiment("searched").system.study_name("searched"),
        storage=open_storage(str(tmp_path / JOURNAL)),
        direction="minimize",
    )
    for value in (3.0e-3, 3.0e-3, 1.0e-7):
        study.enqueue_trial({"train.lr": value})
    run(tmp_path, "all_tuned", cores=1)
    trials = load_study(tmp_path, config).get_trials()
    assert [t.state.name for t in trials] == ["COMPLETE", "COMPLETE", "PRUNED"]
    pruned = trials[2]
    step = pruned.last_step
    assert step == 3, "stopped at its first report"
    assert pruned.intermediate_values[step] > max(t.intermediate_values[step] for t in trials[:2])
    table = pd.read_csv(tmp_path / "results/searched/tune/trials.csv")
    assert table.loc[2, "note"] == "pruned at step 3" and not table.loc[2, "best"]
