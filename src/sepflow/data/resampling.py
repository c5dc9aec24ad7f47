"""Preparing a corpus: every file resampled once (soxr) into the prepared folder, in
parallel over the job's threads; a file already 16-bit WAV at the right rate is copied as
it is. The folder is a staging folder (`data/prepare.py`), renamed into place only when
every file is written. Threads suffice: soundfile and soxr release the GIL.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import soundfile as sf

from sepflow.audio import read_audio, resample, write_audio
from sepflow.errors import SepflowError

AUDIO_SUFFIXES = (".wav", ".flac")
Log = Callable[[str], None]


def audio_files(folder: Path) -> list[Path]:
    """Audio files directly in `folder`, sorted."""
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())


@dataclass(frozen=True)
class Job:
    """One file to prepare: read `src`, keep `channels` (all when None), write `dst`."""

    src: Path
    dst: Path
    channels: int | None = None


def _prepare_one(job: Job, sample_rate: int) -> None:
    try:
        info = sf.info(str(job.src))
    except Exception as exc:
        raise SepflowError(
            f"cannot read {job.src}: {exc}. The file is corrupt or truncated: replace it "
            "(a download: delete it and rerun)."
        ) from None
    if (
        info.samplerate == sample_rate
        and info.subtype == "PCM_16"
        and info.format == "WAV"
        and (job.channels is None or job.channels == info.channels)
    ):
        shutil.copyfile(job.src, job.dst)
        return
    audio, sr = read_audio(job.src)  # names the file if its samples are unreadable or not finite
    audio = audio if job.channels is None else audio[: job.channels]
    write_audio(job.dst, resample(audio, sr, sample_rate), sample_rate)


def resample_files(jobs: Iterable[Job], sample_rate: int, workers: int, log: Log = print, what: str = "files") -> int:
    """Prepare every job at `sample_rate` over `workers` threads; return how many there were."""
    jobs = list(jobs)
    for parent in {j.dst.parent for j in jobs}:
        parent.mkdir(parents=True, exist_ok=True)
    step = max(1, len(jobs) // 10)
    with ThreadPoolExecutor(max(1, workers)) as pool:
        for k, _ in enumerate(pool.map(lambda j: _prepare_one(j, sample_rate), jobs), 1):
            if k % step == 0 or k == len(jobs):
                log(f"{what}: {k}/{len(jobs)} prepared at {sample_rate} Hz")
    return len(jobs)
