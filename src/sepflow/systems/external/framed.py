"""Running a frame-by-frame enhancer library on whole signals as the pipeline needs them: any
rate (resampled to the library's and back with the pipeline's resampler), any channel count
(each channel on its own fresh state), the tail flushed with zeros and the library's delay
taken off, so the output has the input's length and is time-aligned with it.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import numpy as np

from sepflow.audio import resample
from sepflow.systems.external.checks import check_speech, knobs
from sepflow.systems.external.wheel import sha256

Step = Callable[[np.ndarray, np.ndarray], float]
"""One frame through the library: (input frame, output frame to fill) -> its per-frame value."""


def aligned(
    signal: np.ndarray, frame: int, delay: int, state: Callable[[], AbstractContextManager[Step]]
) -> np.ndarray:
    """A mono float32 signal through a fresh library state, `delay` samples of zeros (and up to
    a frame more) appended so its end comes out, and the first `delay` output samples dropped."""
    n = signal.shape[-1]
    padded = np.zeros(-(-(n + delay) // frame) * frame, dtype=np.float32)
    padded[:n] = signal
    out = np.empty_like(padded)
    with state() as step:
        for start in range(0, padded.size, frame):
            step(padded[start : start + frame], out[start : start + frame])
    return out[delay : delay + n]


def per_channel(
    audio: np.ndarray, sample_rate: int, library_rate: int, mono: Callable[[np.ndarray], np.ndarray]
) -> np.ndarray:
    """(channels, T) at `sample_rate` -> (1, channels, T): each channel through `mono` at the
    library's rate, resampled back to the input's rate and length."""
    if audio.ndim != 2:
        raise ValueError(f"audio must be (channels, samples), got shape {audio.shape}")
    if audio.shape[-1] == 0:
        return np.zeros((1, *audio.shape), dtype=np.float32)
    at_library = resample(audio, sample_rate, library_rate)
    out = np.stack([mono(np.ascontiguousarray(channel)) for channel in at_library])
    return resample(out, library_rate, sample_rate, length=audio.shape[-1])[None]


class FramedSystem:
    """What a frame-library system does once built: run whole signals, and say its facts.
    A subclass sets the attributes below and gives `state()`, a context of a fresh `Step`."""

    name: str
    licence: str
    dist: importlib.metadata.Distribution
    library: Path
    args: dict[str, float]
    sample_rate: int
    library_rate: int
    frame: int
    delay: int
    state: Callable[[], AbstractContextManager[Step]]

    def __init__(self, sample_rate: int, sources: tuple[str, ...], args: dict, ranges: dict):
        """Checks before the library is touched (see checks.py); `ranges` as in `knobs`."""
        check_speech(self.name, sample_rate, sources)
        self.args = knobs(self.name, args, ranges)
        self.sample_rate = sample_rate

    def __call__(self, audio: np.ndarray) -> np.ndarray:
        """(channels, T) float32 at `sample_rate` -> (1, channels, T), aligned with the input."""
        return per_channel(
            audio,
            self.sample_rate,
            self.library_rate,
            lambda signal: aligned(signal, self.frame, self.delay, self.state),
        )

    def facts(self) -> dict:
        """Provenance for the report: what ran, from which files, with which delay and arguments."""
        return {
            "system": self.name,
            "package": self.dist.metadata["Name"],
            "version": self.dist.version,
            "library": str(self.library),
            "library_sha256": sha256(self.library),
            "frame": self.frame,
            "library_rate": self.library_rate,
            "delay_samples": self.delay,
            "delay_ms": 1000 * self.delay / self.library_rate,
            "args": dict(self.args),
            "licence": self.licence,
        }
