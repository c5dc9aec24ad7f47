"""Reading and writing audio with soundfile, with errors that name the file.

Audio in sepflow is float32 numpy, shaped (channels, samples); mono files read as (1, n).
Writes go to a temporary file that is renamed, so a crash never leaves a half-written WAV;
a full disk is an error naming the folder. Long files are read and written in blocks
(`read_blocks`, `AudioWriter`), so memory does not grow with the file.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from sepflow.errors import SepflowError
from sepflow.files import atomic_path

SAMPLE_BYTES = {"PCM_S8": 1, "PCM_U8": 1, "PCM_16": 2, "PCM_24": 3, "PCM_32": 4, "FLOAT": 4, "DOUBLE": 8}
WAV_HEADER = 44


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


def audio_bytes(frames: int, channels: int, subtype: str = "PCM_16") -> int:
    """The size of an uncompressed audio file (WAV) of this shape: what writing it needs."""
    return WAV_HEADER + frames * channels * SAMPLE_BYTES.get(subtype, 4)


def file_format(path: str | os.PathLike) -> str:
    """The container a path's extension asks for: FLAC for .flac, WAV otherwise."""
    return "FLAC" if Path(path).suffix.lower() == ".flac" else "WAV"


def _checked(path: Path, audio: np.ndarray, subtype: str) -> np.ndarray:
    """(channels, n) float32 ready to write: finite, clipped at +-1 for PCM."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 1:
        audio = audio[None]
    if not np.isfinite(audio).all():
        raise SepflowError(f"refusing to write {path}: the audio holds NaN or infinite samples.")
    return np.clip(audio, -1.0, 1.0) if subtype.startswith("PCM") else audio


def write_audio(path: str | os.PathLike, audio: np.ndarray, sample_rate: int, subtype: str = "PCM_16") -> Path:
    """Write (channels, samples) or (samples,) float audio atomically as WAV; PCM_16 clips at +-1."""
    path = Path(path)
    audio = _checked(path, audio, subtype)
    with atomic_path(path) as tmp:
        sf.write(tmp, audio.T, sample_rate, subtype=subtype, format="WAV")
    return path


def read_blocks(path: str | os.PathLike, frames: int) -> Iterator[np.ndarray]:
    """A file as consecutive float32 (channels, <= frames) blocks, each checked to hold numbers."""
    path = Path(path)
    audio_info(path)  # a missing or unreadable file: one message naming it
    with sf.SoundFile(str(path)) as f:
        while True:
            try:
                block = f.read(frames, dtype="float32", always_2d=True)
            except Exception as exc:
                raise SepflowError(f"cannot read audio file {path}: {exc}. The file is corrupt or truncated.") from None
            if not len(block):
                return
            if not np.isfinite(block).all():
                raise SepflowError(f"{path} holds NaN or infinite samples; regenerate or remove it.")
            yield np.ascontiguousarray(block.T)


class AudioWriter:
    """One audio file written block by block, exactly `frames` long (cut, or padded with
    silence at the end), atomically: it appears whole at close or not at all. The format
    follows the extension (FLAC for .flac, WAV otherwise)."""

    def __init__(self, path: str | os.PathLike, sample_rate: int, channels: int, frames: int, subtype: str = "PCM_16"):
        self.path, self.channels, self.frames, self.subtype = Path(path), channels, frames, subtype
        self.written = 0
        with contextlib.ExitStack() as stack:  # a failed open removes the temporary file
            tmp = stack.enter_context(atomic_path(self.path))
            self._file = sf.SoundFile(tmp, "w", sample_rate, channels, subtype, format=file_format(self.path))
            self._stack = stack.pop_all()

    def write(self, audio: np.ndarray) -> None:
        """Append (channels, n) audio; what goes past `frames` is dropped."""
        audio = _checked(self.path, audio[..., : self.frames - self.written], self.subtype)
        if audio.shape[-1]:
            self._file.write(audio.T)
            self.written += audio.shape[-1]

    def __enter__(self) -> AudioWriter:
        return self

    def __exit__(self, kind, exc, tb) -> None:
        """Pad to `frames` and rename into place; after an error, remove the temporary file."""
        with self._stack:  # the atomic path: renamed into place unless an exception leaves this block
            try:
                if exc is None:
                    self.write(np.zeros((self.channels, self.frames - self.written), dtype=np.float32))
            finally:
                self._file.close()
            if exc is not None:
                raise exc
