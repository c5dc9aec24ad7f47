"""The training loop: it learns, it checkpoints in the documented format, and a resumed run
ends with exactly the weights of an uninterrupted one."""

import csv

import pytest
import torch

from sepflow.data.datasets import training_data
from sepflow.data.manifest import read_manifest, write_manifest
from sepflow.errors import SepflowError
from sepflow.models.checkpoint import load_checkpoint, load_model
from sepflow.train.loop import train
from sepflow.train.recipe import Recipe

MODEL = "gatewave"
ARGS = {"hidden": 8, "depth": 2}


def recipe(**overrides):
    base = dict(steps=12, batch_size=4, segment=0.25, lr=1e-3, loss={"name": "l1"}, valid_every=4, log_every=4, seed=3)
    return Recipe.from_config({**base, **overrides})


def toy(toy_data, r):
    return training_data(
        read_manifest(toy_data / "manifests/toy/train.json"),
        read_manifest(toy_data / "manifests/toy/valid.json"),
        r.segment,
        r.seed,
    )


def run(toy_data, out_dir, logs=None, **overrides):
    r = recipe(**overrides)
    return train(
        MODEL,
        ARGS,
        r,
        toy(toy_data, r),
        out_dir,
        device="cpu",
        log=(logs.append if logs is not None else lambda line: None),
    )


def test_training_writes_checkpoints_history_and_learns(toy_data, tmp_path):
    logs = []
    best = run(toy_data, tmp_path / "run", logs, steps=40, valid_every=10)
    assert {"model", "model_args", "sample_rate", "task", "sources", "channels", "state_dict"} <= set(best)
    assert (
        best["model"],
        best["model_args"],
        best["sample_rate"],
        best["task"],
        best["sources"],
        best["channels"],
    ) == (MODEL, ARGS, 16000, "speech", ["speech"], 1)
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
        train(
            MODEL,
            ARGS,
            recipe(log_every=2),
            toy(toy_data, recipe()),
            tmp_path / "resumed",
            device="cpu",
            log=interrupt_at_step_6,
        )
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
    assert any("starting afresh" in line for line in logs)
    assert load_checkpoint(tmp_path / "run/best.pt")["step"] == 4


def test_changed_training_data_starts_afresh_and_learns_new_weights(toy_data, tmp_path):
    """Same model and recipe, one training file changed: the old run must not be resumed
    (it would republish the old weights unchanged)."""
    run(toy_data, tmp_path / "run", steps=4)
    before = torch.load(tmp_path / "run/last.pt", weights_only=True)
    changed = toy_data / "audio/toy/train/noisy/train_000.wav"
    from sepflow.audio import read_audio, write_audio

    audio, sr = read_audio(changed)
    write_audio(changed, 0.5 * audio, sr)
    manifest = read_manifest(toy_data / "manifests/toy/train.json", check_files=False)
    from sepflow.data.manifest import paired_manifest

    write_manifest(
        paired_manifest(toy_data / "audio/toy/train", toy_data, "toy", "train", 16000),
        toy_data / "manifests/toy/train.json",
    )
    assert read_manifest(toy_data / "manifests/toy/train.json").content_hash != manifest.content_hash
    logs = []
    run(toy_data, tmp_path / "run", logs, steps=4)
    assert any("trained on other data" in line and "starting afresh" in line for line in logs)
    after = torch.load(tmp_path / "run/last.pt", weights_only=True)
    assert after["step"] == 4
    assert any(not torch.equal(before["model_state"][k], after["model_state"][k]) for k in before["model_state"])


def test_early_stopping_stops(toy_data, tmp_path):
    logs = []
    run(toy_data, tmp_path / "run", logs, steps=400, lr=1e-9, valid_every=2, early_stop=2)
    last = torch.load(tmp_path / "run/last.pt", weights_only=True)
    assert last["step"] < 400 and any("early stop" in line for line in logs)


@pytest.mark.parametrize(
    "cfg, message",
    [
        ({"steps": 0}, "steps must be at least 1"),
        ({"stepz": 3}, r"unknown key\(s\) \['stepz'\]"),
        ({"loss": {}}, "needs a 'name'"),
    ],
)
def test_bad_recipe_values_are_named(cfg, message):
    with pytest.raises(SepflowError, match=message):
        Recipe.from_config(cfg)


def test_a_gan_step_runs_through_the_same_loop_and_resumes_exactly(toy_data, tmp_path):
    """SEMamba's metric GAN (two networks, two optimisers) is a pluggable step: the same
    train(), checkpoints and resume as every model."""
    args = {"features": 4, "blocks": 1, "d_state": 4, "expand": 1}
    gan = dict(
        steps=4,
        batch_size=2,
        segment=0.25,
        lr=5e-4,
        betas=[0.8, 0.99],
        loss={"name": "l1"},
        valid_every=2,
        log_every=1,
        clip_grad=0,
        seed=5,
        step={"name": "metric_gan", "epoch_steps": 2},
    )
    r = recipe(**gan)
    train("semamba", args, r, toy(toy_data, r), tmp_path / "straight", device="cpu", log=lambda line: None)

    def stop_at_step_3(line):
        if "step      3/" in line:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train("semamba", args, r, toy(toy_data, r), tmp_path / "resumed", device="cpu", log=stop_at_step_3)
    resumed_log = []
    train("semamba", args, r, toy(toy_data, r), tmp_path / "resumed", device="cpu", log=resumed_log.append)
    assert any("resuming from" in line and "at step 3" in line for line in resumed_log), resumed_log
    a = torch.load(tmp_path / "straight/last.pt", weights_only=True)
    b = torch.load(tmp_path / "resumed/last.pt", weights_only=True)
    assert a["step"] == b["step"] == 4
    for name, tensor in a["model_state"].items():
        assert torch.equal(tensor, b["model_state"][name]), name
    for name, tensor in a["step_state"]["discriminator"].items():
        assert torch.equal(tensor, b["step_state"]["discriminator"][name]), name
