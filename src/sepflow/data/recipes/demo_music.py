"""The embedded demo music set: synthesized songs (drums, bass, chords and an eSpeak vocal
line) in the MUSDB18 decoded-WAV layout at 44.1 kHz stereo, train/valid/test."""

from __future__ import annotations

from pathlib import Path

from sepflow.data.demo.music import MUSIC_SAMPLE_RATE, synthesize_music
from sepflow.errors import SepflowError

TASK = "music"
SIZES = ("train", "valid", "test")


def splits(cfg: dict) -> dict[str, str]:
    return {name: "stems" for name in SIZES}


def check(cfg: dict, where: str) -> None:
    sizes = cfg.get("sizes")
    if not isinstance(sizes, dict) or set(sizes) != set(SIZES):
        raise SepflowError(
            f"{where}.sizes: give track counts for exactly {list(SIZES)}, e.g. {{train: 8, valid: 2, test: 3}}."
        )
    for split, count in sizes.items():
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise SepflowError(f"{where}.sizes.{split} must be a whole number >= 1, got {count!r}.")
    seconds = cfg.get("seconds")
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 1.0 <= seconds <= 120.0:
        raise SepflowError(f"{where}.seconds: the length of each track, a number in [1, 120], got {seconds!r}.")
    if cfg["sample_rate"] != MUSIC_SAMPLE_RATE:
        raise SepflowError(f"{where}.sample_rate: the demo music is made at {MUSIC_SAMPLE_RATE} Hz; set that.")


def inputs(cfg: dict) -> list[str]:
    return []


def prepare(cfg: dict, audio_dir: Path, *, raw_dir: Path, seed: int, workers: int, log, journal=None) -> None:
    sizes = cfg["sizes"]
    names = synthesize_music(
        audio_dir,
        n_train=sizes["train"],
        n_valid=sizes["valid"],
        n_test=sizes["test"],
        seed=seed,
        seconds=float(cfg["seconds"]),
        journal=journal,
    )
    log(f"demo music in {audio_dir}: {names}")


def split_dir(cfg: dict, audio_dir: Path, split: str) -> Path:
    return audio_dir / split
