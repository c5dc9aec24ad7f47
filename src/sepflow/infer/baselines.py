"""Separators that need no training, so every report has reference rows: the unprocessed
mixture as every source's estimate, and a classical spectral-gating denoiser (noisereduce)
for speech. Each maps (channels, T) audio to (sources, channels, T) estimates."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from sepflow.errors import SepflowError

Separator = Callable[[np.ndarray], np.ndarray]


def mixture(sample_rate: int, sources: tuple[str, ...]) -> Separator:
    """The unprocessed input for every source: the floor every model must beat."""
    return lambda audio: np.repeat(audio[None], len(sources), axis=0)


def spectral_gating(sample_rate: int, sources: tuple[str, ...], stationary: bool = False,
                    prop_decrease: float = 1.0) -> Separator:
    """noisereduce's spectral gating, estimated on each file: a speech denoiser."""
    import noisereduce

    if len(sources) != 1:
        raise SepflowError(f"spectral_gating estimates one source (speech), not {list(sources)}.")

    def process(audio: np.ndarray) -> np.ndarray:
        out = noisereduce.reduce_noise(y=audio, sr=sample_rate, stationary=stationary, prop_decrease=prop_decrease)
        return np.asarray(out, dtype=np.float32).reshape(audio.shape)[None]

    return process


BASELINES: dict[str, Callable[..., Separator]] = {
    "noisy": mixture,
    "mixture": mixture,
    "spectral_gating": spectral_gating,
}


def build_baseline(name: str, sample_rate: int, sources: tuple[str, ...], **args) -> Separator:
    if name not in BASELINES:
        raise SepflowError(f"unknown baseline {name!r}; choose one of: {', '.join(sorted(BASELINES))}")
    try:
        return BASELINES[name](sample_rate, tuple(sources), **args)
    except TypeError as exc:
        raise SepflowError(f"bad arguments for baseline {name!r}: {exc}") from None
