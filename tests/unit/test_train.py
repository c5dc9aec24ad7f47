"""The training loop: it learns, it checkpoints in the documented format, and a resumed run
ends with exactly the weights of an uninterrupted one."""

import csv

import pytest
import torch

from sepflow.data.manifest import read_manifest
from sepflow.errors import SepflowError
from sepflow.train.checkpoint import load_checkpoint, load_model
from sepflow.train.loop import train
from sepflow.train.recipe import Recipe

MODEL = "gatewave"
ARGS = {"hidden": 8, "depth": 2}


def recipe(**overrides):
    base = dict(steps=12, batch_size=4, segment=0.25, lr=1e-3, loss={"name": "l1"}, valid_every=4, log_every=4,
                seed=3)
    return Recipe.from_config({**base, **overrides})


def run(toy_data, out_dir, logs=None, **overrides):
    return train(MODEL, ARGS, recipe(**overrides), read_manifest(toy_data / "manifests/toy/train.json"),
                 read_manifest(toy_data / "manifests/toy/valid.json"), out_dir, device="cpu",
                 log=(logs.append if logs is not None else lambda line: None))


def test_training_writes_checkpoints_history_and_learns(toy_data, tmp_path):
    logs = []
    best = run(toy_data, tmp_path / "run", logs, steps=40, valid_every=10)
    assert {"model", "model_args", "sample_rate", "task", "state_dict"} <= set(best)
    assert (best["model"], best["model_args"], best["sample_rate"], best["task"]) == (MODEL, ARGS, 16000, "speech")
    rows = list(csv.DictReader(open(tmp_path / "run/history.csv")))
    assert [int(r["step"]) for r in rows] == [10, 20, 30, 40]
    assert float(rows[-1]["valid_loss"]) < float(rows[0]["valid_loss"])
    assert any((tmp_path / "run/tensorboard").iterdir())
    assert any("step     40/40" in line for line in logs)
    model, ckpt = load_model(tmp_path / "run/best.pt")
    assert not model.training and ckpt["valid_loss"] == min(float(r["valid_loss"]) for r in rows)


def test_resumed_run_ends_with_the_same_weights(toy_data, tmp_path):
    run(toy_data, tmp_path / "straight", log_every=2)

    def interrupt_at_step_6(line):  # Ctrl-C (or Slurm's SIGTERM) arriving mid-run
        if "step      6/" in line:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(MODEL, ARGS, recipe(log_every=2), read_manifest(toy_data / "manifests/toy/train.json"),
              read_manifest(toy_data / "manifests/toy/valid.json"), tmp_path / "resumed", device="cpu",
              log=interrupt_at_step_6)
    assert torch.load(tmp_path / "resumed/last.pt", weights_only=True)["step"] == 6
    logs = []
    run(toy_data, tmp_path / "resumed", logs, log_every=2)
    assert any("resuming" in line and "step 6" in line for line in logs)
    a = torch.load(tmp_path / "straight/last.pt", weights_only=True)
    b = torch.load(tmp_path / "resumed/last.pt", weights_only=True)
    assert a["step"] == b["step"] == 12
    for name, tensor in a["model_state"].items():
        assert torch.equal(tensor, b["model_state"][name]), name
    assert [r["valid_loss"] for r in a["history"]] == [r["valid_loss"] for r in b["history"]]
    assert [r["train_loss"] for r in a["history"]] == [r["train_loss"] for r in b["history"]]


def test_changed_recipe_starts_afresh(toy_data, tmp_path):
    run(toy_data, tmp_path / "run", steps=4)
    logs = []
    run(toy_data, tmp_path / "run", logs, steps=4, lr=5e-4)
    assert any("different configuration" in line for line in logs)
    assert load_checkpoint(tmp_path / "run/best.pt")["step"] == 4


def test_early_stopping_stops(toy_data, tmp_path):
    logs = []
    run(toy_data, tmp_path / "run", logs, steps=400, lr=1e-9, valid_every=2, early_stop=2)
    last = torch.load(tmp_path / "run/last.pt", weights_only=True)
    assert last["step"] < 400 and any("early stop" in line for line in logs)


@pytest.mark.parametrize("cfg, message", [
    ({"steps": 0}, "steps must be at least 1"),
    ({"stepz": 3}, r"unknown key\(s\) \['stepz'\]"),
    ({"loss": {}}, "needs a 'name'"),
])
def test_bad_recipe_values_are_named(cfg, message):
    with pytest.raises(SepflowError, match=message):
        Recipe.from_config(cfg)
