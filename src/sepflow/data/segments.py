"""Training batches that are a pure function of (seed, step).

Which items and which crops a step sees depends only on the seed and the step number, so a
resumed run draws exactly the batches the uninterrupted run would have drawn, with no
sampler state to save. Each epoch is a fresh seeded permutation of the items; with several
processes (multi-GPU) each takes its own slice of every global batch.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np


class StepBatches:
    """Batch sampler yielding, from `start_step` on, lists of (item index, crop seed)."""

    def __init__(
        self, n_items: int, batch_size: int, seed: int, start_step: int = 0, rank: int = 0, world_size: int = 1
    ):
        if batch_size % world_size:
            raise ValueError(f"batch_size {batch_size} is not divisible by {world_size} processes")
        self.n, self.batch, self.seed = n_items, batch_size, seed
        self.start, self.rank, self.world = start_step, rank, world_size
        self._cached: tuple[int, np.ndarray] = (-1, np.empty(0, dtype=np.int64))

    def _permutation(self, epoch: int) -> np.ndarray:
        if self._cached[0] != epoch:
            self._cached = (epoch, np.random.default_rng([self.seed, epoch]).permutation(self.n))
        return self._cached[1]

    def batch_at(self, step: int) -> list[tuple[int, int]]:
        """The (index, crop seed) pairs of this process's share of global batch `step`."""
        per = self.batch // self.world
        out = []
        for k in range(self.rank * per, (self.rank + 1) * per):
            pos = step * self.batch + k
            epoch, offset = divmod(pos, self.n)
            out.append((int(self._permutation(epoch)[offset]), int(pos)))
        return out

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        step = self.start
        while True:
            yield self.batch_at(step)
            step += 1
