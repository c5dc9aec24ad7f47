"""Separators that need no training, so every report has reference rows: the unprocessed
mixture as every source's estimate (the floor), a classical spectral-gating denoiser
(noisereduce) for speech, and the oracle ideal ratio mask (the ceiling of masking, from the
true sources). Each maps (channels, T) audio to (sources, channels, T) estimates; one that
`uses_references` also receives the true sources (sources, channels, T)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from sepflow.errors import SepflowError
from sepflow.infer.separation_baselines import mixture_baseline, oracle_irm
from sepflow.registry import Registry

Separator = Callable[[np.ndarray], np.ndarray]


def mixture(sample_rate: int, sources: tuple[str, ...]) -> Separator:
    """The unprocessed input for every source: the floor every model must beat."""
    return lambda audio: mixture_baseline(audio, len(sources))


def spectral_gating(
    sample_rate: int, sources: tuple[str, ...], stationary: bool = False, prop_decrease: float = 1.0
) -> Separator:
    """noisereduce's spectral gating, estimated on each file: a speech denoiser."""
    import noisereduce

    if len(sources) != 1:
        raise SepflowError(f"spectral_gating estimates one source (speech), not {list(sources)}.")

    def process(audio: np.ndarray) -> np.ndarray:
        out = noisereduce.reduce_noise(y=audio, sr=sample_rate, stationary=stationary, prop_decrease=prop_decrease)
        return np.asarray(out, dtype=np.float32).reshape(audio.shape)[None]

    return process


class OracleIRM:
    """The ideal ratio mask of the true sources applied to the mixture's STFT."""

    uses_references = True

    def __init__(self, sample_rate: int, sources: tuple[str, ...], n_fft: int = 4096, hop: int = 1024):
        self.n_fft, self.hop = n_fft, hop

    def __call__(self, audio: np.ndarray, references: np.ndarray) -> np.ndarray:
        return oracle_irm(audio, references, self.n_fft, self.hop)


BASELINES = Registry(
    "baseline",
    {
        "noisy": "sepflow.infer.baselines:mixture",
        "mixture": "sepflow.infer.baselines:mixture",
        "spectral_gating": "sepflow.infer.baselines:spectral_gating",
        "oracle_irm": "sepflow.infer.baselines:OracleIRM",
    },
    leading=("sample_rate", "sources"),
)

UNPROCESSED = tuple(name for name, entry in BASELINES.items() if entry == "sepflow.infer.baselines:mixture")
"""Baselines that pass the input through: the row every model's gain is measured against."""


def build_baseline(name: str, sample_rate: int, sources: tuple[str, ...], **args) -> Separator:
    return BASELINES.build(name, sample_rate, tuple(sources), **args)
