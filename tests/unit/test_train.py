"""The training loop: it learns, it checkpoints in the documented format, and a resumed run
ends with exactly the weights of an uninterrupted one."""

import csv
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pesq
import pytest
import soundfile as sf
import torch

from sepflow.data.datasets import training_data
from sepflow.data.manifest import read_manifest, write_manifest
from sepflow.errors import SepflowError
from sepflow.models.checkpoint import load_checkpoint, load_model
from sepflow.train.loop import train
from sepflow.train.recipe import Recipe
from sepflow.train.steps import check_step_data

WORKER = Path(__file__).with_name("train_worker.py")
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


def test_a_changed_recipe_names_its_keys_and_keeps_the_earlier_run_as_previous(toy_data, tmp_path):
    run(toy_data, tmp_path / "run", steps=4)
    first = {name: (tmp_path / "run" / name).read_bytes() for name in ("last.pt", "best.pt", "history.csv")}
    logs = []
    run(toy_data, tmp_path / "run", logs, steps=4, lr=5e-4, loss={"name": "l1_mrstft"})
    (line,) = [line for line in logs if "Starting afresh" in line]
    assert "the recipe (loss.name l1 -> l1_mrstft, lr 0.001 -> 0.0005)" in line, line
    assert "kept as best.pt.previous, history.csv.previous, tensorboard.previous, last.pt.previous" in line, line
    for name, content in first.items():
        assert (tmp_path / "run" / f"{name}.previous").read_bytes() == content, name
    assert (tmp_path / "run/tensorboard.previous").is_dir()
    second = torch.load(tmp_path / "run/last.pt", weights_only=True)
    assert (second["step"], second["fingerprint_parts"]["recipe"]["lr"]) == (4, 5e-4)
    assert load_checkpoint(tmp_path / "run/best.pt")["step"] == 4

    logs = []
    run(toy_data, tmp_path / "run", logs, steps=4, lr=5e-4, loss={"name": "l1_mrstft"}, seed=4)
    assert any("the recipe (seed 3 -> 4)" in line for line in logs), logs
    previous = torch.load(tmp_path / "run/last.pt.previous", weights_only=True)  # one generation: the second run
    assert (
        previous["fingerprint_parts"]["recipe"]["lr"] == 5e-4 and previous["fingerprint_parts"]["recipe"]["seed"] == 3
    )


def test_a_state_from_before_the_parts_were_kept_resumes_or_says_its_fingerprint_changed(toy_data, tmp_path):
    """last.pt as the previous sepflow wrote it (its best as best_loss, no parts, no criterion):
    the same run resumes; another one says the fingerprints differ."""
    run(toy_data, tmp_path / "run", steps=4)
    state = torch.load(tmp_path / "run/last.pt", weights_only=True)
    for key in ("fingerprint_parts", "criterion", "validation_pending"):
        del state[key]
    state["best_loss"] = state.pop("best")
    torch.save(state, tmp_path / "run/last.pt")
    logs = []
    run(toy_data, tmp_path / "run", logs, steps=8)
    assert any("resuming from" in line and "at step 4" in line for line in logs), logs
    torch.save(state, tmp_path / "run/last.pt")
    logs = []
    run(toy_data, tmp_path / "run", logs, steps=4, lr=5e-4)
    new = recipe(lr=5e-4).fingerprint(MODEL, ARGS, toy(toy_data, recipe()).fingerprint)
    assert any(f"settings it did not record (fingerprint {state['fingerprint']} -> {new})" in line for line in logs), (
        logs
    )


def test_changed_model_arguments_are_named_with_old_and_new_values(toy_data, tmp_path):
    r = recipe(steps=2, valid_every=2)
    train(MODEL, ARGS, r, toy(toy_data, r), tmp_path / "run", device="cpu", log=lambda line: None)
    logs = []
    train(MODEL, {"hidden": 4, "depth": 2}, r, toy(toy_data, r), tmp_path / "run", device="cpu", log=logs.append)
    assert any("differs in the model arguments (hidden 8 -> 4). Starting afresh" in line for line in logs), logs


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
    new_hash = read_manifest(toy_data / "manifests/toy/train.json").content_hash
    assert new_hash != manifest.content_hash
    logs = []
    run(toy_data, tmp_path / "run", logs, steps=4)
    valid_hash = read_manifest(toy_data / "manifests/toy/valid.json").content_hash
    expected = f"differs in the data (content {manifest.content_hash}-{valid_hash} -> {new_hash}-{valid_hash})"
    assert any(expected in line and "Starting afresh" in line for line in logs), logs
    after = torch.load(tmp_path / "run/last.pt", weights_only=True)
    assert after["step"] == 4
    assert any(not torch.equal(before["model_state"][k], after["model_state"][k]) for k in before["model_state"])


def worker(data, out_dir, hold=0, **overrides):
    """The training subprocess of train_worker.py, its stdin and stdout piped."""
    cfg = dict(steps=12, batch_size=4, segment=0.25, lr=1e-3, loss={"name": "l1"}, valid_every=4, log_every=4, seed=3)
    cfg.update(examples=1, **overrides)
    return subprocess.Popen(
        [sys.executable, str(WORKER), str(data), str(out_dir), json.dumps(cfg), str(hold)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )


def finished(proc) -> str:
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out
    return out


def test_sigint_during_validation_is_redone_on_resume_to_the_same_history_best_and_scheduler(toy_data, tmp_path):
    """SIGINT reaching a training process in the middle of its second validation (step 8):
    the state is saved as it was before that validation, the rerun validates step 8 first,
    and history.csv, best.pt and the plateau scheduler end as in a run never stopped."""
    finished(worker(toy_data, tmp_path / "straight"))
    proc = worker(toy_data, tmp_path / "resumed", hold=2)
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if line.strip() == "validating":
            break
    proc.send_signal(signal.SIGINT)
    proc.stdin.write("go\n")
    proc.stdin.flush()
    out = "".join(lines) + proc.communicate(timeout=300)[0]
    assert proc.returncode == 130, out
    saved = torch.load(tmp_path / "resumed/last.pt", weights_only=True)
    assert (saved["step"], saved["validation_pending"], [r["step"] for r in saved["history"]]) == (8, True, [4])
    assert "interrupted at step 8 (its validation is redone on resume)" in out, out
    out = finished(worker(toy_data, tmp_path / "resumed"))
    assert "the validation of step 8 was interrupted; validating again" in out, out

    def history(name):
        return [
            {k: v for k, v in row.items() if k != "seconds"}
            for row in csv.DictReader(open(tmp_path / name / "history.csv"))
        ]

    assert [r["step"] for r in history("straight")] == ["4", "8", "12"]
    assert history("resumed") == history("straight")
    a, b = (torch.load(tmp_path / name / "last.pt", weights_only=True) for name in ("straight", "resumed"))
    assert a["step_state"]["scheduler"] == b["step_state"]["scheduler"]
    assert a["step_state"]["scheduler"]["last_epoch"] == 3  # stepped by each of the three validations
    assert b["model_state"].keys() == a["model_state"].keys()
    assert all(torch.equal(a["model_state"][k], b["model_state"][k]) for k in a["model_state"])
    best_a, best_b = (load_checkpoint(tmp_path / name / "best.pt") for name in ("straight", "resumed"))
    assert (best_a["step"], best_a["valid_loss"]) == (best_b["step"], best_b["valid_loss"])
    assert all(torch.equal(best_a["state_dict"][k], best_b["state_dict"][k]) for k in best_a["state_dict"])


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


def test_the_gan_step_validates_with_pesq_and_its_best_is_the_highest(toy_data, tmp_path):
    """The metric GAN's history has valid_pesq (no valid_loss: it does not train on the
    recipe's loss), each value is the mean wide-band PESQ of the model's estimates of the
    validation items (the pesq package on them, recomputed here), and best.pt is the
    validation with the highest."""
    args = {"features": 4, "blocks": 1, "d_state": 4, "expand": 1}
    r = recipe(steps=4, batch_size=2, segment=0.25, lr=2e-3, clip_grad=0, valid_every=1, step={"name": "metric_gan"})
    train("semamba", args, r, toy(toy_data, r), tmp_path / "run", device="cpu", log=lambda line: None)
    rows = list(csv.DictReader(open(tmp_path / "run/history.csv")))
    assert list(rows[0]) == ["step", "train_loss", "valid_pesq", "valid_si_snr", "lr", "seconds"]
    best_row = max(rows, key=lambda row: float(row["valid_pesq"]))
    model, best = load_model(tmp_path / "run/best.pt")
    assert (best["step"], best["criterion"], best["valid_pesq"]) == (
        int(best_row["step"]),
        "valid_pesq",
        float(best_row["valid_pesq"]),
    )
    valid = read_manifest(toy_data / "manifests/toy/valid.json")
    scores = []
    for item in valid.items:
        noisy, _ = sf.read(str(valid.mixture_path(item)), dtype="float32")
        clean, _ = sf.read(str(valid.target_paths(item)["speech"]), dtype="float32")
        with torch.no_grad():
            estimate = model(torch.from_numpy(noisy)[None, None])[0, 0].numpy()
        scores.append(pesq.pesq(16000, clean.astype(np.float64), estimate.astype(np.float64), "wb"))
    assert float(best_row["valid_pesq"]) == pytest.approx(np.mean(scores), abs=1e-6)


def test_a_step_refuses_data_it_cannot_train_on_in_one_line():
    """The plan-time check: the metric GAN enhances one source at 16 kHz (any channels)."""
    gan = {"name": "metric_gan", "epoch_steps": 10}
    where = "experiments.x.train.step"
    with pytest.raises(SepflowError, match=r"^experiments\.x\.train\.step: metric_gan enhances one source, but "):
        check_step_data(gan, ("vocals", "drums", "bass", "other"), 2, 16000, where)
    with pytest.raises(SepflowError, match=r"needs 16000 Hz audio, but the data is 44100 Hz; prepare"):
        check_step_data(gan, ("speech",), 1, 44100, where)
    check_step_data(gan, ("speech",), 2, 16000, where)
    check_step_data({"name": "supervised"}, ("vocals", "drums"), 2, 44100, where)
    with pytest.raises(SepflowError, match=r"^experiments\.x\.train\.step\.name: unknown step 'wgan'"):
        check_step_data({"name": "wgan"}, ("speech",), 1, 16000, where)
