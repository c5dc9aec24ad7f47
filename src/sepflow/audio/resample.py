"""Sample-rate conversion with soxr (high quality, deterministic)."""

from __future__ import annotations

import numpy as np
import soxr


def resample(audio: np.ndarray, sr_in: int, sr_out: int, length: int | None = None) -> np.ndarray:
    """Resample (channels, samples) or (samples,) float audio from sr_in to sr_out; with `length`,
    the result is cut or zero-padded to it (a round trip to another rate may end one sample off)."""
    out = _resample(np.asarray(audio, dtype=np.float32), sr_in, sr_out)
    if length is None or out.shape[-1] == length:
        return out
    if out.shape[-1] > length:
        return out[..., :length]
    return np.pad(out, [(0, 0)] * (out.ndim - 1) + [(0, length - out.shape[-1])])


def _resample(audio: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    if sr_in == sr_out:
        return audio
    if audio.ndim == 1:
        return soxr.resample(audio, sr_in, sr_out, quality="HQ").astype(np.float32)
    out = soxr.resample(np.ascontiguousarray(audio.T), sr_in, sr_out, quality="HQ")
    return np.ascontiguousarray(out.T, dtype=np.float32)
