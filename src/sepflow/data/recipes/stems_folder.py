"""A user's music folder in the MUSDB18 decoded layout, {split}/{track}/{mixture,vocals,
drums,bass,other}.wav (or the sources the config names), at any sample rate. It is read in
place and resampled once into data/audio/{dataset}/{split}/{track}/."""

from __future__ import annotations

from pathlib import Path

from sepflow.data.manifest import MUSIC_SOURCES
from sepflow.data.recipes.folders import existing_folder, split_folders
from sepflow.data.resampling import Job, resample_files
from sepflow.errors import SepflowError

TASK = "music"


def splits(cfg: dict) -> dict[str, str]:
    return {name: "stems" for name in split_folders(cfg, "datasets")}


def _tracks(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir())


def _files(cfg: dict) -> tuple[str, ...]:
    return ("mixture", *cfg.get("sources", MUSIC_SOURCES))


def check(cfg: dict, where: str) -> None:
    for split, folder in split_folders(cfg, where).items():
        tracks = _tracks(existing_folder(folder, f"{where}.splits.{split}"))
        if not tracks:
            raise SepflowError(f"{where}.splits.{split}: {folder} holds no track folders.")
        for track in tracks:
            missing = [f"{name}.wav" for name in _files(cfg) if not (track / f"{name}.wav").is_file()]
            if missing:
                raise SepflowError(f"{where}.splits.{split}: {track} lacks {missing}.")


def _jobs(cfg: dict, audio_dir: Path) -> list[Job]:
    return [
        Job(track / f"{name}.wav", audio_dir / split / track.name / f"{name}.wav")
        for split, folder in split_folders(cfg, "datasets").items()
        for track in _tracks(folder)
        for name in _files(cfg)
    ]


def inputs(cfg: dict) -> list[str]:
    return [str(job.src) for job in _jobs(cfg, Path("."))]


def prepare(cfg: dict, audio_dir: Path, *, raw_dir: Path, seed: int, workers: int, log, journal=None) -> None:
    resample_files(_jobs(cfg, audio_dir), cfg["sample_rate"], workers, log, journal=journal)


def split_dir(cfg: dict, audio_dir: Path, split: str) -> Path:
    return audio_dir / split
