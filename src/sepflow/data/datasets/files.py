"""Datasets over prepared files, in the sample contract: `(mixture, targets)` with mixture
(channels, time) and targets (sources, channels, time). Paired speech (noisy + clean) and
music stems are the same thing here: the manifest says which file is the mixture and which
are the sources."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from sepflow.audio import audio_info
from sepflow.data.datasets.checked import ItemFiles
from sepflow.data.manifest import Manifest


class _ManifestFiles(Dataset):
    def __init__(self, manifest: Manifest):
        self.reader = ItemFiles([manifest])
        self.sources = manifest.sources
        self.sample_rate, self.task = manifest.sample_rate, manifest.task
        self.files = manifest.item_files()
        self.channels = audio_info(self.files[0][0]).channels

    def __len__(self) -> int:
        return len(self.files)

    def _read(self, paths, start: int, stop: int) -> list[np.ndarray]:
        return [self.reader.read(p, start, stop).T for p in paths]


class FileSegments(_ManifestFiles):
    """Random fixed-length crops, read lazily; indexed by (item, crop seed) from StepBatches.

    Items shorter than the segment are zero-padded at the end.
    """

    def __init__(self, manifest: Manifest, segment_samples: int, seed: int):
        super().__init__(manifest)
        self.segment, self.seed = segment_samples, seed

    def __getitem__(self, key: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        index, crop_seed = key
        mixture_path, target_paths, length = self.files[index]
        start = 0
        if length > self.segment:
            start = int(np.random.default_rng([self.seed, crop_seed]).integers(0, length - self.segment + 1))
        stop = min(start + self.segment, length)
        mixture, *targets = (
            np.pad(x, ((0, 0), (0, self.segment - x.shape[1])))
            for x in self._read([mixture_path, *target_paths], start, stop)
        )
        return torch.from_numpy(mixture), torch.from_numpy(np.stack(targets))


class FileItems(_ManifestFiles):
    """Whole items, for validation at batch size 1."""

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        mixture_path, target_paths, length = self.files[index]
        mixture, *targets = self._read([mixture_path, *target_paths], 0, length)
        return torch.from_numpy(np.ascontiguousarray(mixture)), torch.from_numpy(np.stack(targets))
