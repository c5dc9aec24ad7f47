"""Preparing a corpus: every file resampled once (soxr) into the prepared folder, in
parallel over the job's threads; a file already 16-bit WAV at the right rate is copied as
it is. The folder is a staging folder (`data/staging.py`), renamed into place only when
every file is written; each finished file is journalled with its source's size and
modification time, so an interrupted preparation resumes with the files still to do (and
redoes a file whose source changed). The space the files need is known from the sources'
headers and checked before the first write. Threads suffice: soundfile and soxr release the GIL.
"""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import soundfile as sf

from sepflow.audio import read_audio, resample, write_audio
from sepflow.audio.io import audio_bytes
from sepflow.data.staging import Journal, file_state
from sepflow.disk import require_space, space_for
from sepflow.errors import SepflowError
from sepflow.files import atomic_path

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


def _info(job: Job):
    try:
        return sf.info(str(job.src))
    except Exception as exc:
        raise SepflowError(
            f"cannot read {job.src}: {exc}. The file is corrupt or truncated: replace it "
            "(a download: delete it and rerun)."
        ) from None


def _copies(job: Job, info, sample_rate: int) -> bool:
    """Whether the source is already what the job makes (16-bit WAV at the rate, its channels)."""
    return (
        info.samplerate == sample_rate
        and info.subtype == "PCM_16"
        and info.format == "WAV"
        and (job.channels is None or job.channels == info.channels)
    )


def _size(job: Job, info, sample_rate: int) -> int:
    """The bytes the job's output takes."""
    if _copies(job, info, sample_rate):
        return job.src.stat().st_size
    channels = info.channels if job.channels is None else min(job.channels, info.channels)
    return audio_bytes(math.ceil(info.frames * sample_rate / info.samplerate), channels)


def _prepare_one(job: Job, info, sample_rate: int) -> None:
    if _copies(job, info, sample_rate):
        with atomic_path(job.dst) as tmp:
            shutil.copyfile(job.src, tmp)
        return
    audio, sr = read_audio(job.src)  # names the file if its samples are unreadable or not finite
    audio = audio if job.channels is None else audio[: job.channels]
    write_audio(job.dst, resample(audio, sr, sample_rate), sample_rate)


def _source_state(job: Job) -> list[int | None]:
    """What the prepared file depends on besides the settings: its source and channels."""
    return [*file_state(job.src), job.channels]


def resample_files(
    jobs: Iterable[Job],
    sample_rate: int,
    workers: int,
    log: Log = print,
    what: str = "files",
    journal: Journal | None = None,
) -> int:
    """Prepare every job at `sample_rate` over `workers` threads; return how many there were.
    With a journal, jobs finished before (and whose source is unchanged) are skipped."""
    jobs = list(jobs)
    todo = [
        j for j in jobs if journal is None or journal.get(journal.key(j.dst)) != _source_state(j) or not j.dst.is_file()
    ]
    if len(todo) < len(jobs):
        log(f"{what}: {len(jobs) - len(todo)} of {len(jobs)} files were prepared before; {len(todo)} to do")
    infos = [_info(j) for j in todo]
    needed = sum(_size(j, info, sample_rate) for j, info in zip(todo, infos))
    folder = Path(os.path.commonpath([j.dst.parent for j in todo])) if todo else None
    if folder is not None:
        require_space(folder, needed, what)
    for parent in {j.dst.parent for j in todo}:
        parent.mkdir(parents=True, exist_ok=True)

    def one(k: int) -> None:
        _prepare_one(todo[k], infos[k], sample_rate)
        if journal is not None:
            journal.done(journal.key(todo[k].dst), _source_state(todo[k]))

    step = max(1, len(todo) // 10)
    pool = ThreadPoolExecutor(max(1, workers))
    try:
        with space_for(folder or ".", needed, what):
            for k, _ in enumerate(pool.map(one, range(len(todo))), 1):
                if k % step == 0 or k == len(todo):
                    log(f"{what}: {k}/{len(todo)} prepared at {sample_rate} Hz")
    finally:
        pool.shutdown(cancel_futures=True)  # an error or Ctrl-C stops the files not yet started
    return len(jobs)
