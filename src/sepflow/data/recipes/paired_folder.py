"""A user's paired speech folder in the VoiceBank+DEMAND layout: per split, `clean/` and
`noisy/` holding files of the same names, at any sample rate. It is read in place and
resampled once into data/audio/{dataset}/{split}/{clean,noisy}/."""

from __future__ import annotations

from pathlib import Path

from sepflow.data.recipes.folders import existing_folder, split_folders
from sepflow.data.resampling import Job, audio_files, resample_files
from sepflow.errors import SepflowError

TASK = "speech"
SIDES = ("clean", "noisy")


def splits(cfg: dict) -> dict[str, str]:
    return {name: "paired" for name in split_folders(cfg, "datasets")}


def check(cfg: dict, where: str) -> None:
    for split, folder in split_folders(cfg, where).items():
        for side in SIDES:
            existing_folder(folder / side, f"{where}.splits.{split}")
        names = [{p.stem for p in audio_files(folder / side)} for side in SIDES]
        if not names[0]:
            raise SepflowError(f"{where}.splits.{split}: {folder / 'clean'} holds no .wav or .flac files.")
        if names[0] != names[1]:
            odd = sorted(names[0] ^ names[1])[:3]
            raise SepflowError(
                f"{where}.splits.{split}: clean/ and noisy/ of {folder} differ, e.g. {odd}; "
                "every file needs its pair of the same name."
            )


def _jobs(cfg: dict, audio_dir: Path) -> list[Job]:
    return [
        Job(src, audio_dir / split / side / f"{src.stem}.wav")
        for split, folder in split_folders(cfg, "datasets").items()
        for side in SIDES
        for src in audio_files(folder / side)
    ]


def inputs(cfg: dict) -> list[str]:
    return [str(job.src) for job in _jobs(cfg, Path("."))]


def prepare(cfg: dict, audio_dir: Path, *, raw_dir: Path, seed: int, workers: int, log, journal=None) -> None:
    resample_files(_jobs(cfg, audio_dir), cfg["sample_rate"], workers, log, journal=journal)


def split_dir(cfg: dict, audio_dir: Path, split: str) -> Path:
    return audio_dir / split
