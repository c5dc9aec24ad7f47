"""Sample-rate conversion with soxr (high quality, deterministic)."""

from __future__ import annotations

import numpy as np
import soxr


def resample(audio: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Resample (channels, samples) or (samples,) float audio from sr_in to sr_out."""
    if sr_in == sr_out:
        return np.asarray(audio, dtype=np.float32)
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 1:
        return soxr.resample(audio, sr_in, sr_out, quality="HQ").astype(np.float32)
    out = soxr.resample(np.ascontiguousarray(audio.T), sr_in, sr_out, quality="HQ")
    return np.ascontiguousarray(out.T, dtype=np.float32)
