"""The embedded demo corpus: synthesized offline (eSpeak NG speech, synthesized noises,
simulated rooms); paired splits in the VoiceBank+DEMAND layout and DNS-layout pools."""

from __future__ import annotations

from pathlib import Path

from sepflow.data.demo.corpus import synthesize_demo
from sepflow.data.demo.noise import NOISE_TYPES
from sepflow.data.demo.settings import validate_settings
from sepflow.errors import SepflowError

TASK = "speech"
POOL_FOLDERS = {"pool_clean": "dns/clean", "pool_noise": "dns/noise", "pool_rir": "dns/impulse_responses"}
KEYS = ("sizes", "snr_range", "reverb_fraction", "utterance_seconds", "pool_sizes")


def splits(cfg: dict) -> dict[str, str]:
    return {**{name: "paired" for name in cfg["sizes"]}, **{name: "pool" for name in POOL_FOLDERS}}


def check(cfg: dict, where: str) -> None:
    missing = [key for key in KEYS if key not in cfg]
    if missing:
        raise SepflowError(f"{where}: the demo recipe needs {missing} (see config.yaml).")
    try:
        _settings(cfg, seed=0)
    except SepflowError as exc:
        raise SepflowError(f"{where}: {exc}".replace("demo config: ", "")) from None


def _settings(cfg: dict, seed: int) -> dict:
    args = {key: cfg[key] for key in KEYS}
    validate_settings(
        args["sizes"],
        cfg["sample_rate"],
        seed,
        args["snr_range"],
        args["reverb_fraction"],
        args["utterance_seconds"],
        args["pool_sizes"],
        NOISE_TYPES,
        (0.2, 0.8),
        8,
    )
    return args


def inputs(cfg: dict) -> list[str]:
    return []


def prepare(cfg: dict, audio_dir: Path, *, raw_dir: Path, seed: int, workers: int, log, journal=None) -> None:
    summary = synthesize_demo(
        audio_dir, sample_rate=cfg["sample_rate"], seed=seed, workers=workers, journal=journal, **_settings(cfg, seed)
    )
    log(f"demo corpus in {audio_dir}: {summary}")


def split_dir(cfg: dict, audio_dir: Path, split: str) -> Path:
    return audio_dir / POOL_FOLDERS.get(split, split)
