"""A user's music folder in the MUSDB18 decoded layout, {split}/{track}/{mixture,vocals,
drums,bass,other}.wav (or the sources the config names), at any sample rate. It is read in
place and resampled once into data/audio/{dataset}/{split}/{track}/."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import Field

from sepflow.data.manifest import MUSIC_SOURCES
from sepflow.data.recipes.base import DatasetOptions
from sepflow.data.recipes.folders import FolderOptions, UserFolder, existing_folder
from sepflow.data.resampling import Job, resample_files
from sepflow.errors import SepflowError


class StemsFolderOptions(FolderOptions):
    sources: tuple[str, ...] = Field(default=MUSIC_SOURCES, min_length=1)


def _tracks(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir())


class StemsFolder(UserFolder):
    task = "music"
    Options: ClassVar[type[DatasetOptions]] = StemsFolderOptions

    def splits(self) -> dict[str, str]:
        return {name: "stems" for name in self.split_folders()}

    def _files(self) -> tuple[str, ...]:
        return ("mixture", *self.options.sources)

    def check(self, where: str) -> None:
        for split, folder in self.split_folders().items():
            existing_folder(folder, f"{where}.splits.{split}")

    def check_contents(self, where: str) -> None:
        for split, folder in self.split_folders().items():
            tracks = _tracks(folder)
            if not tracks:
                raise SepflowError(f"{where}.splits.{split}: {folder} holds no track folders.")
            for track in tracks:
                missing = [f"{name}.wav" for name in self._files() if not (track / f"{name}.wav").is_file()]
                if missing:
                    raise SepflowError(f"{where}.splits.{split}: {track} lacks {missing}.")

    def _jobs(self, audio_dir: Path) -> list[Job]:
        return [
            Job(track / f"{name}.wav", audio_dir / split / track.name / f"{name}.wav")
            for split, folder in self.split_folders().items()
            for track in _tracks(folder)
            for name in self._files()
        ]

    def inputs(self) -> list[str]:
        return [str(job.src) for job in self._jobs(Path("."))]

    def prepare(self, audio_dir: Path, *, raw_dir: Path, seed: int, workers: int, journal=None) -> None:
        resample_files(self._jobs(audio_dir), self.sample_rate, workers, journal=journal)
