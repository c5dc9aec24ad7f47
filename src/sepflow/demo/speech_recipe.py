"""The embedded demo corpus: synthesized offline (eSpeak NG speech, synthesized noises,
simulated rooms); paired splits in the VoiceBank+DEMAND layout and DNS-layout pools."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from sepflow.data.recipes.base import CorpusRecipe, DatasetOptions
from sepflow.demo.settings import NOISE_TYPES, validate_settings
from sepflow.errors import SepflowError
from sepflow.specs import Count, Number

POOL_FOLDERS = {"pool_clean": "dns/clean", "pool_noise": "dns/noise", "pool_rir": "dns/impulse_responses"}
ROOMS = {"rt60_range": (0.2, 0.8), "rooms_per_split": 8}


class DemoOptions(DatasetOptions):
    sizes: dict[str, Count]
    snr_range: tuple[Number, Number]
    reverb_fraction: Number
    utterance_seconds: tuple[Number, Number]
    pool_sizes: dict[str, Count]


class DemoSpeech(CorpusRecipe):
    task = "speech"
    Options: ClassVar[type[DatasetOptions]] = DemoOptions

    def settings(self) -> dict:
        o = self.options
        return {
            "sizes": o.sizes,
            "snr_range": o.snr_range,
            "reverb_fraction": o.reverb_fraction,
            "utterance_seconds": o.utterance_seconds,
            "pool_sizes": o.pool_sizes,
        }

    def splits(self) -> dict[str, str]:
        return {**{name: "paired" for name in self.options.sizes}, **{name: "pool" for name in POOL_FOLDERS}}

    def check(self, where: str) -> None:
        try:
            validate_settings(sample_rate=self.sample_rate, seed=0, noise_types=NOISE_TYPES, **self.settings(), **ROOMS)
        except SepflowError as exc:
            raise SepflowError(f"{where}: {exc}".replace("demo config: ", "")) from None

    def prepare(self, audio_dir: Path, *, raw_dir: Path, seed: int, workers: int, log, journal=None) -> None:
        from sepflow.demo.corpus import synthesize_demo

        summary = synthesize_demo(
            audio_dir, sample_rate=self.sample_rate, seed=seed, workers=workers, journal=journal, **self.settings()
        )
        log(f"demo corpus in {audio_dir}: {summary}")

    def split_dir(self, audio_dir: Path, split: str) -> Path:
        return Path(audio_dir) / POOL_FOLDERS.get(split, split)
