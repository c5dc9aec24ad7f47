"""A user's paired speech folder in the VoiceBank+DEMAND layout: per split, `clean/` and
`noisy/` holding files of the same names, at any sample rate. It is read in place and
resampled once into data/audio/{dataset}/{split}/{clean,noisy}/."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from sepflow.data.recipes.base import DatasetOptions
from sepflow.data.recipes.folders import FolderOptions, UserFolder, existing_folder
from sepflow.data.resampling import Job, audio_files, resample_files
from sepflow.errors import SepflowError

SIDES = ("clean", "noisy")


class PairedFolder(UserFolder):
    task = "speech"
    Options: ClassVar[type[DatasetOptions]] = FolderOptions

    def splits(self) -> dict[str, str]:
        return {name: "paired" for name in self.split_folders()}

    def check(self, where: str) -> None:
        for split, folder in self.split_folders().items():
            for side in SIDES:
                existing_folder(folder / side, f"{where}.splits.{split}")

    def check_contents(self, where: str) -> None:
        for split, folder in self.split_folders().items():
            names = [{p.stem for p in audio_files(folder / side)} for side in SIDES]
            if not names[0]:
                raise SepflowError(f"{where}.splits.{split}: {folder / 'clean'} holds no .wav or .flac files.")
            if names[0] != names[1]:
                odd = sorted(names[0] ^ names[1])[:3]
                raise SepflowError(
                    f"{where}.splits.{split}: clean/ and noisy/ of {folder} differ, e.g. {odd}; "
                    "every file needs its pair of the same name."
                )

    def _jobs(self, audio_dir: Path) -> list[Job]:
        return [
            Job(src, audio_dir / split / side / f"{src.stem}.wav")
            for split, folder in self.split_folders().items()
            for side in SIDES
            for src in audio_files(folder / side)
        ]

    def inputs(self) -> list[str]:
        return [str(job.src) for job in self._jobs(Path("."))]

    def prepare(self, audio_dir: Path, *, raw_dir: Path, seed: int, workers: int, journal=None) -> None:
        resample_files(self._jobs(audio_dir), self.sample_rate, workers, journal=journal)
