"""Training reads each file checked against its manifest as it reads it, instead of checking
every file when training starts: a start then costs no file-system call per pool file (a
network filesystem makes that minutes for a large corpus), and a file changed after its
manifest was made (truncated, rewritten, resampled, deleted) still stops training before its
samples are used, with one line naming it and the target that remakes it."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import soundfile as sf

from sepflow.errors import SepflowError


class ItemFiles:
    """The files of some manifests, with the size and rate each recorded, read checked."""

    def __init__(self, manifests: Iterable = ()):
        self.origins: list[tuple[str, Path, int]] = []
        self.sizes: dict[str, tuple[int, int]] = {}
        for index, manifest in enumerate(manifests):
            self.origins.append(
                (f"{manifest.dataset}/{manifest.split}", manifest.prepared_folder(), manifest.sample_rate)
            )
            self.sizes.update((path, (size, index)) for path, size in manifest.recorded_sizes().items())

    def read(self, path: str | Path, start: int = 0, stop: int | None = None) -> np.ndarray:
        """(samples, channels) float32 of frames [start, stop) of `path`; a file of the
        manifests must still have the size and sample rate they recorded."""
        known = self.sizes.get(str(path))
        if known is None:
            return sf.read(str(path), start=start, stop=stop, dtype="float32", always_2d=True)[0]
        recorded, index = known
        name, folder, rate = self.origins[index]

        def changed(what: str) -> SepflowError:
            return SepflowError(
                f"{path} ({name}) {what} since its manifest was made; remake it and what depends on it with "
                f"`snakemake --forcerun {folder}` (or `sepflow verify --fix`, then snakemake)."
            )

        try:
            size = os.stat(path).st_size
        except FileNotFoundError:
            raise changed("was deleted") from None
        if size != recorded:
            raise changed(f"has {size} bytes, not the {recorded} recorded: it changed")
        try:
            with sf.SoundFile(str(path)) as f:
                if f.samplerate != rate:
                    raise changed(f"is {f.samplerate} Hz, not {rate} Hz: it changed")
                f.seek(start)
                return f.read(frames=-1 if stop is None else stop - start, dtype="float32", always_2d=True)
        except sf.LibsndfileError as exc:
            raise changed(f"cannot be read as audio ({exc}): it changed") from None
