"""What the downloaded-corpus recipes share: prepare files in parallel, check config keys.

Resampling is idempotent (a file already prepared is skipped, each one written atomically),
so a prepare step cut short continues where it stopped. Threads suffice for parallelism:
soundfile and soxr release the GIL in their C code.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from sepflow.audio import resample, write_audio
from sepflow.errors import SepflowError
from sepflow.files import atomic_path

Log = Callable[[str], None]


@dataclass(frozen=True)
class Job:
    """One file to prepare: read `src`, keep `channels` (all when None), write `dst`."""

    src: Path
    dst: Path
    channels: int | None = None


def _prepare_one(job: Job, sample_rate: int) -> None:
    if job.dst.exists():
        return
    info = sf.info(str(job.src))
    if (
        info.samplerate == sample_rate
        and info.subtype == "PCM_16"
        and info.format == "WAV"
        and (job.channels is None or job.channels == info.channels)
    ):
        with atomic_path(job.dst) as tmp:
            shutil.copyfile(job.src, tmp)
        return
    try:
        data, sr = sf.read(str(job.src), dtype="float32", always_2d=True)
    except Exception as exc:
        raise SepflowError(f"cannot read {job.src}: {exc}; the download is damaged: delete it and rerun.") from None
    audio = np.ascontiguousarray(data.T if job.channels is None else data.T[: job.channels])
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


def require(cfg: dict, where: str, key: str, types: type | tuple[type, ...], choices: Iterable | None = None):
    """cfg[key], checked for type and (optionally) membership; errors name f"{where}.{key}"."""
    if key not in cfg:
        raise SepflowError(f"{where}.{key} is missing")
    return optional(cfg, where, key, types, None, choices)


def optional(
    cfg: dict, where: str, key: str, types: type | tuple[type, ...], default=None, choices: Iterable | None = None
):
    """cfg.get(key, default), checked like require() when present."""
    if key not in cfg:
        return default
    value = cfg[key]
    if isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
        raise SepflowError(f"{where}.{key} must be {types}, got {value!r}")
    if not isinstance(value, types):
        raise SepflowError(f"{where}.{key} must be of type {getattr(types, '__name__', types)}, got {value!r}")
    if choices is not None:
        choices = list(choices)
        values = value if isinstance(value, list) else [value]
        odd = [v for v in values if v not in choices]
        if odd:
            raise SepflowError(f"{where}.{key}: {odd[0]!r} is not one of {choices}")
    return value


def local_root(cfg: dict, where: str) -> Path | None:
    """The user's own copy (`local_path`), which must exist; it is read in place, never written."""
    if "local_path" not in cfg:
        return None
    path = Path(os.path.expanduser(str(cfg["local_path"])))
    if not path.is_dir():
        raise SepflowError(f"{where}.local_path: folder {path} not found; fix the path or remove the key to download.")
    return path
