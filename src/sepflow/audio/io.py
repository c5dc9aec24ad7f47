"""Reading and writing audio with soundfile, with errors that name the file.

Audio in sepflow is float32 numpy, shaped (channels, samples); mono files read as (1, n).
Writes go to a temporary file that is renamed, so a crash never leaves a half-written WAV.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from sepflow.errors import SepflowError
from sepflow.files import atomic_path


@dataclass(frozen=True)
class AudioInfo:
    sample_rate: int
    channels: int
    frames: int


def audio_info(path: str | os.PathLike) -> AudioInfo:
    """Header facts of an audio file, without reading the samples."""
    path = Path(path)
    if not path.is_file():
        raise SepflowError(f"audio file not found: {path}")
    try:
        info = sf.info(str(path))
    except Exception as exc:  # soundfile raises RuntimeError/LibsndfileError variants
        raise SepflowError(
            f"cannot read audio file {path}: {exc}. The file is corrupt or not audio; "
            "delete it and rerun the stage that makes it."
        ) from None
    return AudioInfo(int(info.samplerate), int(info.channels), int(info.frames))


def read_audio(
    path: str | os.PathLike,
    expected_sr: int | None = None,
    check_finite: bool = True,
) -> tuple[np.ndarray, int]:
    """Read a file as float32 (channels, samples); check its rate and that it holds numbers."""
    path = Path(path)
    if not path.is_file():
        raise SepflowError(f"audio file not found: {path}")
    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:
        raise SepflowError(
            f"cannot read audio file {path}: {exc}. The file is corrupt or truncated; "
            "delete it and rerun the stage that makes it."
        ) from None
    if expected_sr is not None and sr != expected_sr:
        raise SepflowError(
            f"{path} has sample rate {sr} Hz, expected {expected_sr} Hz; "
            "resample it (sepflow.audio.resample) or fix sample_rate in the config."
        )
    audio = np.ascontiguousarray(data.T)
    if check_finite and not np.isfinite(audio).all():
        raise SepflowError(f"{path} holds NaN or infinite samples; regenerate or remove it.")
    return audio, int(sr)


def write_audio(path: str | os.PathLike, audio: np.ndarray, sample_rate: int, subtype: str = "PCM_16") -> Path:
    """Write (channels, samples) or (samples,) float audio atomically; PCM_16 clips at +-1."""
    path = Path(path)
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 1:
        audio = audio[None]
    if not np.isfinite(audio).all():
        raise SepflowError(f"refusing to write {path}: the audio holds NaN or infinite samples.")
    if subtype.startswith("PCM"):
        audio = np.clip(audio, -1.0, 1.0)
    with atomic_path(path) as tmp:
        sf.write(tmp, audio.T, sample_rate, subtype=subtype, format="WAV")
    return path
