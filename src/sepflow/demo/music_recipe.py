"""The embedded demo music set: synthesized songs (drums, bass, chords and an eSpeak vocal
line) in the MUSDB18 decoded-WAV layout at 44.1 kHz stereo, train/valid/test."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field, field_validator

from sepflow.data.recipes.base import CorpusRecipe, DatasetOptions
from sepflow.specs import Count, Number

MUSIC_SAMPLE_RATE = 44100
SIZES = ("train", "valid", "test")


class DemoMusicOptions(DatasetOptions):
    sizes: dict[Literal["train", "valid", "test"], Count]
    seconds: Number = Field(ge=1.0, le=120.0)

    @field_validator("sizes")
    @classmethod
    def _all_splits(cls, sizes: dict) -> dict:
        if set(sizes) != set(SIZES) or min(sizes.values()) < 1:
            raise ValueError(f"give track counts >= 1 for exactly {list(SIZES)}, e.g. {{train: 8, valid: 2, test: 3}}")
        return sizes

    @field_validator("sample_rate")
    @classmethod
    def _native(cls, rate: int) -> int:
        if rate != MUSIC_SAMPLE_RATE:
            raise ValueError(f"the demo music is made at {MUSIC_SAMPLE_RATE} Hz; set that")
        return rate


class DemoMusic(CorpusRecipe):
    task = "music"
    Options: ClassVar[type[DatasetOptions]] = DemoMusicOptions

    def splits(self) -> dict[str, str]:
        return {name: "stems" for name in SIZES}

    def prepare(self, audio_dir: Path, *, raw_dir: Path, seed: int, workers: int, log, journal=None) -> None:
        from sepflow.demo.music import synthesize_music

        sizes = self.options.sizes
        names = synthesize_music(
            audio_dir,
            n_train=sizes["train"],
            n_valid=sizes["valid"],
            n_test=sizes["test"],
            seed=seed,
            seconds=float(self.options.seconds),
            journal=journal,
        )
        log(f"demo music in {audio_dir}: {names}")
