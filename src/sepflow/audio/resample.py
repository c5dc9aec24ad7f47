"""Sample-rate conversion with soxr (high quality, deterministic), of whole signals or streamed."""

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


class Resampler:
    """Streaming resampling of (channels, n) blocks with soxr's ResampleStream: the blocks'
    outputs joined equal resample() of the whole signal, and memory stays that of a block."""

    def __init__(self, sr_in: int, sr_out: int, channels: int):
        self.identity = sr_in == sr_out
        if not self.identity:
            self._stream = soxr.ResampleStream(sr_in, sr_out, channels, dtype="float32", quality="HQ")
        self.channels = channels

    def feed(self, audio: np.ndarray, last: bool = False) -> np.ndarray:
        """The output now determined by `audio`, (channels, m); `last` ends the signal."""
        audio = np.asarray(audio, dtype=np.float32)
        if self.identity:
            return audio
        out = self._stream.resample_chunk(np.ascontiguousarray(audio.T), last=last)
        return np.ascontiguousarray(out.reshape(-1, self.channels).T, dtype=np.float32)

    def finish(self) -> np.ndarray:
        """The rest of the output once the input has ended."""
        return self.feed(np.zeros((self.channels, 0), dtype=np.float32), last=True)
