"""Training on 2 CPU processes (gloo, started by Accelerate's launcher) equals training on one
with the same global batch, writes each file once, and resumes exactly."""

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import write_toy_data

from sepflow.errors import SepflowError
from sepflow.train.launch import launch_command, train_job
from sepflow.train.recipe import Recipe

# Adam with L2 weight decay added to the gradient: the update then depends on the gradient's
# scale, so ranks whose gradients were summed instead of averaged would not match (plain
# Adam is blind to a constant factor).
RECIPE = {
    "steps": 4,
    "batch_size": 4,
    "segment": 0.25,
    "lr": 1e-3,
    "weight_decay": 0.5,
    "loss": {"name": "l1"},
    "valid_every": 2,
    "log_every": 1,
    "seed": 3,
    "mixed_precision": False,
}
RTOL, ATOL = 1e-4, 1e-6  # 2 x (batch / 2) against 1 x batch after 4 Adam steps


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """The toy_data fixture's paired dataset (3 validation items: an odd share per rank)."""
    return write_toy_data(tmp_path_factory.mktemp("dist") / "data")


def job(data, out_dir, **train):
    return {
        "model": "gatewave",
        "args": {"hidden": 8, "depth": 2},
        "train": {**RECIPE, **train},
        "where": "experiments.dist",
        "data": {"dataset": "toy", "train": "train", "valid": "valid"},
        "manifests": str(data / "manifests"),
        "out_dir": str(out_dir),
        "device": "cpu",
        "name": "dist",
        "threads": 2,
    }


@pytest.fixture(scope="module")
def runs(data, tmp_path_factory):
    """One process 4 steps; two processes 4 steps, then those extended to 8 (a resume); and
    two processes 8 steps straight. Each 2-process run's log lines are kept."""
    root = tmp_path_factory.mktemp("runs")
    torch.set_num_threads(1)
    logs = {}
    train_job(job(data, root / "one"))
    logs["two"] = []
    train_job(job(data, root / "two", processes=2), log=logs["two"].append)
    shutil.copytree(root / "two", root / "resumed")
    logs["resumed"] = []
    train_job(job(data, root / "resumed", processes=2, steps=8), log=logs["resumed"].append)
    train_job(job(data, root / "straight", processes=2, steps=8), log=lambda line: None)
    return root, logs


def state(path):
    return torch.load(path / "last.pt", map_location="cpu", weights_only=True)


def history(path):
    return [
        {k: float(v) for k, v in row.items() if k != "seconds"} for row in csv.DictReader(open(path / "history.csv"))
    ]


def test_two_processes_equal_one_with_the_same_global_batch(runs):
    root, _ = runs
    one, two = state(root / "one"), state(root / "two")
    assert one["step"] == two["step"] == 4
    worst = 0.0
    for name, a in one["model_state"].items():
        b = two["model_state"][name]
        torch.testing.assert_close(b, a, rtol=RTOL, atol=ATOL)
        worst = max(worst, (a - b).abs().max().item())
    print(f"max |w_2proc - w_1proc| after 4 steps: {worst:.3g}")
    rows_one, rows_two = history(root / "one"), history(root / "two")
    assert [r["step"] for r in rows_one] == [r["step"] for r in rows_two] == [2, 4]
    for a, b in zip(rows_one, rows_two):
        np.testing.assert_allclose([b[k] for k in sorted(b)], [a[k] for k in sorted(a)], rtol=RTOL, atol=ATOL)


def test_rank_zero_alone_writes_and_logs(runs):
    root, logs = runs
    assert sorted(p.name for p in (root / "two").iterdir()) == ["best.pt", "history.csv", "last.pt", "tensorboard"]
    assert len(list((root / "two/tensorboard").iterdir())) == 1  # one SummaryWriter
    assert len(history(root / "two")) == 2
    for step in (1, 2, 3, 4):
        assert sum(f"step {step:>6}/4 " in line and "step/s" in line for line in logs["two"]) == 1, logs["two"]
    assert sum("valid SI-SNR" in line for line in logs["two"]) == 2  # validated once per validation step
    assert any("2 processes (MULTI_CPU), 2 of each batch of 4 per process" in line for line in logs["two"])


def test_two_process_run_resumes_exactly(runs):
    root, logs = runs
    assert any("resuming from" in line and "at step 4" in line for line in logs["resumed"])
    resumed, straight = state(root / "resumed"), state(root / "straight")
    assert resumed["step"] == straight["step"] == 8
    for name, weights in straight["model_state"].items():
        assert torch.equal(resumed["model_state"][name], weights), name
    assert history(root / "resumed") == history(root / "straight")


def test_processes_must_divide_the_global_batch():
    with pytest.raises(SepflowError, match=r"train.batch_size 6 .* train.processes = 4"):
        Recipe.from_config({"batch_size": 6, "processes": 4})
    assert Recipe.from_config({"processes": 2}).fingerprint("m", {}, "d") == Recipe().fingerprint("m", {}, "d")


def test_interrupted_two_process_run_saves_once_and_resumes_exactly(data, tmp_path):
    """Ctrl-C (or Slurm's SIGTERM, which the workflow turns into KeyboardInterrupt) reaching
    the caller mid-run: the ranks stop together, rank 0 saves once, and the rerun continues
    exactly like a run that was never stopped."""
    lines = []

    def interrupt_at_step_3(line):
        lines.append(line)
        if "step      3/200 " in line:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_job(job(data, tmp_path / "resumed", processes=2, steps=200), log=interrupt_at_step_3)
    stopped = state(tmp_path / "resumed")["step"]
    assert 3 <= stopped < 200
    print(
        f"interrupted at step 3 of rank 0's log; the ranks stopped together at step {stopped}; output after it:",
        *lines[next(i for i, line in enumerate(lines) if "step      3/200 " in line) + 1 :],
        sep="\n  ",
    )
    redo = " (its validation is redone on resume)" if stopped % 2 == 0 else ""  # stopped before validating
    assert [line for line in lines if "interrupted at step" in line] == [
        f"[dist] interrupted at step {stopped}{redo}; state saved to {tmp_path / 'resumed/last.pt'}, rerun to resume."
    ]
    resumed_log = []
    train_job(job(data, tmp_path / "resumed", processes=2, steps=stopped + 1), log=resumed_log.append)
    assert any("resuming from" in line and f"at step {stopped}" in line for line in resumed_log), resumed_log
    train_job(job(data, tmp_path / "straight", processes=2, steps=stopped + 1), log=lambda line: None)
    resumed, straight = state(tmp_path / "resumed"), state(tmp_path / "straight")
    for name, weights in straight["model_state"].items():
        assert torch.equal(resumed["model_state"][name], weights), name
    assert history(tmp_path / "resumed") == history(tmp_path / "straight")


def test_metric_gan_gradients_are_averaged_over_ranks(tmp_path):
    """The metric GAN runs SEMamba's methods on the unwrapped generator, which DDP does not
    see: its gradients are averaged by the step itself (sepflow.device.average_gradients),
    the discriminator's by DDP. One step, 2 x 2 items against 1 x 4."""
    worker = str(Path(__file__).with_name("metric_gan_ranks.py"))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, worker, str(tmp_path / "one.pt")], check=True, env=env, capture_output=True)
    subprocess.run(launch_command(2, [worker, str(tmp_path / "two.pt")]), check=True, env=env, capture_output=True)
    one, two = torch.load(tmp_path / "one.pt"), torch.load(tmp_path / "two.pt")
    for net in ("generator", "discriminator"):
        # relative to the network's largest gradient: biases that an instance norm cancels
        # have gradients of rounding noise around 0, equal only to that scale
        scale = max(a.abs().max().item() for a in one[net].values())
        worst = max((two[net][name] - a).abs().max().item() for name, a in one[net].items()) / scale
        print(f"{net}: largest gradient difference {worst:.2g} of the largest gradient")
        assert worst < 1e-5, net
