"""MUSAN (Snyder et al. 2015, OpenSLR 17): music, speech and noise pools, 16 kHz.

One 11 GB tar.gz with an md5 that OpenSLR publishes. The config's `parts` (noise, music,
speech; default noise) become flat pools of WAVs, named by their (unique) MUSAN file names.
"""

from __future__ import annotations

from pathlib import Path

from sepflow.data.corpus_prep import local_root, optional, require
from sepflow.data.download import Remote, pinned
from sepflow.data.extract import download_and_extract
from sepflow.data.resampling import Job, resample_files
from sepflow.errors import SepflowError

PARTS = ("noise", "music", "speech")
TASK = "speech"
REMOTE = Remote(
    "https://www.openslr.org/resources/17/musan.tar.gz",
    md5="0c472d4fc0c5141eca47ad1ffeb2a7df",
    size=11_086_114_085,
    kind="tar",
)
DEFAULT_PARTS = ["noise"]


def splits(cfg: dict) -> dict[str, str]:
    return {part: "pool" for part in cfg.get("parts", DEFAULT_PARTS)}


def check(cfg: dict, where: str) -> None:
    require(cfg, where, "sample_rate", int)
    optional(cfg, where, "mirror", str)
    optional(cfg, where, "parts", list, choices=list(PARTS))
    local_root(cfg, where)


def download(cfg: dict, raw_dir: Path, log) -> None:
    where = f"datasets.{raw_dir.name}"
    remote = pinned(REMOTE, cfg, where)
    download_and_extract(remote, raw_dir, raw_dir / "musan", log, cfg.get("mirror"), f"{where}.checksums")


def _root(base: Path) -> Path:
    """The `musan/` folder holding music/, speech/, noise/."""
    for candidate in (base, base / "musan"):
        if (candidate / "noise").is_dir() or (candidate / "music").is_dir():
            return candidate
    raise SepflowError(
        f"no MUSAN folder (with noise/, music/, speech/) found at {base}; "
        "fix local_path or delete the folder and rerun the download."
    )


def _jobs(cfg: dict, root: Path, audio_dir: Path) -> list[Job]:
    jobs = []
    for part in cfg.get("parts", DEFAULT_PARTS):
        files = sorted((root / part).rglob("*.wav"))
        if not files:
            raise SepflowError(f"{root / part} holds no WAV files; the MUSAN copy is incomplete.")
        names = [f.name for f in files]
        if len(set(names)) != len(names):
            raise SepflowError(f"{root / part}: file names repeat across subfolders; this is not the MUSAN layout.")
        jobs += [Job(f, audio_dir / part / f.name, channels=1) for f in files]
    return jobs


def inputs(cfg: dict) -> list[str]:
    local = local_root(cfg, "dataset")
    return [str(job.src) for job in _jobs(cfg, _root(local), Path("."))] if local else []


def prepare(cfg: dict, audio_dir: Path, *, raw_dir: Path, seed: int, workers: int, log, journal=None) -> None:
    root = _root(local_root(cfg, "dataset") or raw_dir / "musan")
    resample_files(_jobs(cfg, root, audio_dir), cfg["sample_rate"], workers, log, "MUSAN", journal=journal)


def split_dir(cfg: dict, audio_dir: Path, split: str) -> Path:
    return audio_dir / split
