"""The training batches' DataLoader, and how many worker processes read them.

A batch is a pure function of the seed and the step (`data/segments.StepBatches` picks the
items and crop seeds; the datasets seed each item from its key), so workers change how fast
batches arrive and never which: a run with workers ends with the weights of one without
(tests/unit/test_loader.py). By default the workers come from the process's threads: all
but one, which the training keeps; an explicit `train.num_workers` wins. Each worker runs
torch on one thread (PyTorch's setting in workers) and waits once its prefetched batches
are queued.

The loop takes one iterator over an endless sampler, so its workers already live for the
whole run (`persistent_workers` only matters to a loader iterated again). They ignore
SIGINT and SIGTERM: a Ctrl-C reaches the terminal's whole process group and Slurm signals
every process of a job, and a worker dying of it would make PyTorch raise in the training
process at once, before it saves its state (`train/stop.py`); the training process stops
them when it is done. A user error met reading an item (a file changed since its manifest, a
pool file with other channels) travels to the training process as a value and is raised
there as it was raised: DataLoader would re-raise it with the worker's traceback in its
message, and a SepflowError must reach the user as its one line.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator

import torch
from torch.utils.data import DataLoader, Dataset, default_collate

from sepflow.data.segments import StepBatches
from sepflow.errors import SepflowError


def loader_workers(num_workers: int | None, threads: int) -> int:
    """`num_workers` when given; otherwise `threads` - 1 (0 on one thread)."""
    if num_workers is not None:
        return num_workers
    return max(0, int(threads) - 1)


def _ignore_stop_signals(worker_id: int) -> None:
    """A worker leaves SIGINT and SIGTERM to the training process."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)


class _Carried(Dataset):
    """The dataset's items, or the user error met reading one."""

    def __init__(self, dataset: Dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key):
        try:
            return self.dataset[key]
        except SepflowError as error:
            return error


def _collate(items: list):
    """A batch, or the first user error among its items."""
    errors = [item for item in items if isinstance(item, SepflowError)]
    return errors[0] if errors else default_collate(items)


def training_loader(dataset: Dataset, batches: StepBatches, workers: int, seed: int) -> DataLoader:
    """Batches of `dataset` as `batches` says, read on `workers` processes (0: in this one);
    iterate it with `raising`."""
    return DataLoader(
        _Carried(dataset),
        batch_sampler=batches,
        num_workers=workers,
        collate_fn=_collate,
        worker_init_fn=_ignore_stop_signals if workers else None,
        generator=torch.Generator().manual_seed(seed),
    )


def raising(loader: DataLoader) -> Iterator:
    """The loader's batches; a user error met reading one is raised here, as it was raised."""
    for batch in loader:
        if isinstance(batch, SepflowError):
            raise batch
        yield batch
