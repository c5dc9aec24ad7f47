"""Enhancers that need no training, so every report has reference rows: the noisy input
itself and a classical spectral-gating denoiser (noisereduce)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from sepflow.errors import SepflowError


def noisy(sample_rate: int) -> Callable[[np.ndarray], np.ndarray]:
    """The unprocessed input: the floor every model must beat."""
    return lambda audio: audio


def spectral_gating(sample_rate: int, stationary: bool = False, prop_decrease: float = 1.0) -> Callable[[np.ndarray], np.ndarray]:
    """noisereduce's spectral gating, estimated on each file."""
    import noisereduce

    def process(audio: np.ndarray) -> np.ndarray:
        out = noisereduce.reduce_noise(y=audio, sr=sample_rate, stationary=stationary, prop_decrease=prop_decrease)
        return np.asarray(out, dtype=np.float32).reshape(audio.shape)

    return process


BASELINES: dict[str, Callable[..., Callable[[np.ndarray], np.ndarray]]] = {
    "noisy": noisy,
    "spectral_gating": spectral_gating,
}


def build_baseline(name: str, sample_rate: int, **args) -> Callable[[np.ndarray], np.ndarray]:
    if name not in BASELINES:
        raise SepflowError(f"unknown baseline {name!r}; choose one of: {', '.join(sorted(BASELINES))}")
    try:
        return BASELINES[name](sample_rate, **args)
    except TypeError as exc:
        raise SepflowError(f"bad arguments for baseline {name!r}: {exc}") from None
