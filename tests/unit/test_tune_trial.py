"""A trial slot's job without Snakemake: against an RDB study (SQLite, as a user's URL gives it),
each slot fills itself once, a rerun of a finished slot only writes its record again, and the
value told is the objective measured at the step of the checkpoint the trial keeps."""

from __future__ import annotations

import copy
import json

import optuna
import pandas as pd
import pytest
import torch
from conftest import log_lines
from snakemake_runs import TINY

from sepflow.plan import build_plan
from sepflow.plan.jobs import trial_job
from sepflow.tune.trial import run_trial

SEARCHED = {
    "model": "gatewave",
    "args": {"hidden": 4, "depth": 2},
    "data": {"dataset": "demo", "train": "train", "valid": "valid"},
    "train": {"steps": 4, "batch_size": 2, "segment": 0.25, "loss": {"name": "l1"}, "valid_every": 2, "examples": 0},
    "test_sets": ["demo/test"],
    "tune": {
        "params": {"train.lr": {"type": "float", "low": 1.0e-4, "high": 1.0e-2, "log": True}},
        "metric": "stoi",
        "trials": 2,
        "pruner": {"name": "none"},
    },
}


@pytest.fixture
def jobs(toy_data, tmp_path):
    """The two slot jobs of a search planned on the tiny preset, reading the toy data's manifests
    and keeping the study in SQLite."""
    config = copy.deepcopy(TINY)
    config["device"] = "cpu"
    config["experiments"] = {
        "searched": {**SEARCHED, "tune": {**SEARCHED["tune"], "storage": f"sqlite:///{tmp_path}/s.db"}}
    }
    plan = build_plan(config)
    toy = {
        "demo/train": str(toy_data / "manifests/toy/train.json"),
        "demo/valid": str(toy_data / "manifests/toy/valid.json"),
    }
    made = []
    for slot in range(2):
        job = trial_job(plan, "searched", slot)
        made.append(job.model_copy(update={"manifests": toy, "folder": str(tmp_path / f"trials/{slot}")}))
    return made


def test_each_slot_fills_once_and_a_rerun_only_writes_its_record_again(jobs, tmp_path):
    records = [run_trial(job, str(tmp_path / f"trials/{job.slot}.json")) for job in jobs]
    study = optuna.load_study(study_name=jobs[0].study, storage=jobs[0].storage)
    assert [(t.number, t.state.name, t.user_attrs["slot"]) for t in study.trials] == [
        (0, "COMPLETE", 0),
        (1, "COMPLETE", 1),
    ]
    assert [r["number"] for r in records] == [0, 1]
    before = (tmp_path / "trials/0/train/best.pt").stat().st_mtime_ns
    (tmp_path / "trials/0.json").unlink()
    with log_lines() as said:
        again = run_trial(jobs[0], str(tmp_path / "trials/0.json"))
    assert again == records[0] == json.loads((tmp_path / "trials/0.json").read_text())
    assert said == ["[slot 0] trial 0 finished before (COMPLETE); recorded again"]
    assert (tmp_path / "trials/0/train/best.pt").stat().st_mtime_ns == before, "nothing trained again"
    assert len(study.trials) == 2


def test_the_value_told_is_the_metric_at_the_kept_checkpoints_step(jobs, tmp_path):
    record = run_trial(jobs[0], str(tmp_path / "trials/0.json"))
    trial = optuna.load_study(study_name=jobs[0].study, storage=jobs[0].storage).trials[0]
    kept = torch.load(tmp_path / "trials/0/train/best.pt", weights_only=True)
    history = pd.read_csv(tmp_path / "trials/0/train/history.csv")
    assert trial.user_attrs["best_step"] == kept["step"] == history.loc[history["valid_loss"].idxmin(), "step"]
    assert record["value"] == trial.value == trial.intermediate_values[kept["step"]]
    assert sorted(trial.intermediate_values) == [2, 4]
    assert 0 < trial.value < 1, "a STOI"


def test_the_journals_lock_links_to_the_journal_by_its_absolute_path(tmp_path, monkeypatch):
    """A lock left by a killed trial is taken over after its grace period only if the link
    resolves: a relative target would dangle (a link resolves it from its own folder) and every
    other trial would spin on it for ever."""
    import os

    from sepflow.tune.study import open_storage

    monkeypatch.chdir(tmp_path)
    targets = []
    symlink = os.symlink
    monkeypatch.setattr(os, "symlink", lambda src, dst, *a, **k: (targets.append(src), symlink(src, dst, *a, **k)))
    optuna.create_study(study_name="s", storage=open_storage("studies/s.journal"))
    assert targets and all(os.path.isabs(t) and os.path.samefile(t, "studies/s.journal") for t in targets)
