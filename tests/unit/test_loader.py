"""The training loader's workers: how many there are, and that they change how fast batches
arrive, never which, nor how a signal stops the training."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import log_lines
from torch.utils.data import Dataset

from sepflow.data.datasets import training_data
from sepflow.data.manifest import read_manifest
from sepflow.data.segments import StepBatches
from sepflow.errors import SepflowError
from sepflow.train.loader import loader_workers, raising, training_loader
from sepflow.train.loop import Trainer, train
from sepflow.train.recipe import Recipe

WORKER = Path(__file__).with_name("train_worker.py")  # test_train.py's training process
MODEL, ARGS = "gatewave", {"hidden": 8, "depth": 2}
RECIPE = dict(steps=12, batch_size=4, segment=0.25, lr=1e-3, loss={"name": "l1"}, valid_every=4, log_every=2, seed=3)


def recipe(**overrides) -> Recipe:
    return Recipe.from_config({**RECIPE, **overrides})


def toy(toy_data: Path, r: Recipe):
    manifests = (read_manifest(toy_data / f"manifests/toy/{split}.json") for split in ("train", "valid"))
    return training_data(*manifests, r.segment, r.seed)


def weights_and_losses(out_dir: Path) -> tuple[dict, list]:
    state = torch.load(out_dir / "last.pt", weights_only=True)
    return state["model_state"], [(r["train_loss"], r["valid_loss"]) for r in state["history"]]


def test_by_default_the_workers_are_the_threads_but_one_and_a_given_number_wins():
    assert [loader_workers(None, threads) for threads in (1, 2, 8)] == [0, 1, 7]
    assert [loader_workers(n, 8) for n in (0, 3, 12)] == [0, 3, 12]


def test_the_loader_has_the_workers_the_recipe_names_or_the_threads_give(toy_data, tmp_path):
    def loader(threads, **overrides):
        r = recipe(**overrides)
        return Trainer(MODEL, ARGS, r, toy(toy_data, r), tmp_path, device="cpu", threads=threads)._loader()

    assert loader(3).num_workers == 2
    assert loader(1).num_workers == 0
    assert loader(3, num_workers=1).num_workers == 1
    assert loader(3, num_workers=0).num_workers == 0
    assert loader(1, num_workers=2).num_workers == 2


CHANGED = "data/audio/toy/train/noisy/x.wav (toy/train) was deleted since its manifest was made; remake it"


class Broken(Dataset):
    """Eight items; reading item 5 meets a user error, as a file changed since its manifest does."""

    def __len__(self) -> int:
        return 8

    def __getitem__(self, key):
        if key[0] == 5:
            raise SepflowError(CHANGED)
        return torch.zeros(1, 4), torch.zeros(1, 1, 4)


@pytest.mark.parametrize("workers", [0, 2])
def test_a_user_error_reading_an_item_reaches_the_training_as_its_one_line(workers):
    """Not DataLoader's re-raise, which puts the worker's traceback in the message."""
    loader = training_loader(Broken(), StepBatches(8, 4, seed=0), workers, seed=0)
    with pytest.raises(SepflowError) as caught:
        for _ in raising(loader):
            pass
    assert str(caught.value) == CHANGED


def test_a_run_with_loader_workers_ends_with_the_weights_of_one_without(toy_data, tmp_path):
    runs = {}
    for workers in (0, 2):
        r = recipe(steps=8, num_workers=workers)
        with log_lines() as lines:
            train(MODEL, ARGS, r, toy(toy_data, r), tmp_path / str(workers), device="cpu")
        assert any(f"loader workers {workers}" in line for line in lines), lines
        runs[workers] = weights_and_losses(tmp_path / str(workers))
    (weights, losses), (with_workers, their_losses) = runs[0], runs[2]
    assert losses == their_losses
    assert weights.keys() == with_workers.keys()
    assert all(torch.equal(weights[k], with_workers[k]) for k in weights)


def test_a_signal_to_the_whole_process_group_stops_a_training_with_workers_which_then_resumes(toy_data, tmp_path):
    """SIGTERM to every process of the job (as Slurm sends it, or a Ctrl-C's SIGINT to the
    terminal's group): the workers leave it to the training, which saves its state and exits
    130; the rerun ends with the weights of a run never stopped, and of one without workers."""

    def start(out_dir: Path, **overrides) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, str(WORKER), str(toy_data), str(out_dir), json.dumps({**RECIPE, **overrides})],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
            start_new_session=True,  # its own process group, the workers in it
        )

    proc = start(tmp_path / "stopped", num_workers=2)
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if "step      6/" in line:
            os.killpg(proc.pid, signal.SIGTERM)
            break
    out = "".join(lines) + proc.communicate(timeout=300)[0]
    assert proc.returncode == 130, out
    assert "interrupted at step" in out, out
    for out_dir, workers in ((tmp_path / "stopped", 2), (tmp_path / "straight", 0)):
        again = start(out_dir, num_workers=workers)
        out = again.communicate(timeout=300)[0]
        assert again.returncode == 0, out
    (weights, losses), (resumed, their_losses) = (weights_and_losses(tmp_path / n) for n in ("straight", "stopped"))
    assert losses == their_losses
    assert all(torch.equal(weights[k], resumed[k]) for k in weights)
