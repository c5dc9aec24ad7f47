"""Preparing a user's or a downloaded corpus: every file resampled once (soxr) into the
prepared folder, in parallel over the job's threads; the same sources give the same files."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from sepflow.audio import read_audio, resample, write_audio

AUDIO_SUFFIXES = (".wav", ".flac")


def audio_files(folder: Path) -> list[Path]:
    """Audio files directly in `folder`, sorted."""
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())


def _convert(job: tuple[Path, Path, int]) -> None:
    source, target, sample_rate = job
    audio, sr = read_audio(source)
    write_audio(target, resample(audio, sr, sample_rate), sample_rate)


def resample_files(
    jobs: Sequence[tuple[Path, Path]], sample_rate: int, workers: int = 1, log: Callable[[str], None] = print
) -> None:
    """Write each (source, target .wav) pair resampled to `sample_rate`."""
    tasks = [(Path(src), Path(dst), sample_rate) for src, dst in jobs]
    for _, dst, _ in tasks:
        dst.parent.mkdir(parents=True, exist_ok=True)
    step = max(1, len(tasks) // 10)
    with ProcessPoolExecutor(max(1, min(workers, len(tasks), os.cpu_count() or 1))) as pool:
        for done, _ in enumerate(pool.map(_convert, tasks, chunksize=max(1, len(tasks) // (8 * workers))), 1):
            if done % step == 0 or done == len(tasks):
                log(f"resampled {done}/{len(tasks)} files to {sample_rate} Hz")
