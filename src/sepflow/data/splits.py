"""Which folder of a prepared dataset holds which split, per dataset recipe."""

from __future__ import annotations

from pathlib import Path

from sepflow.data.manifest import Manifest, paired_manifest, pool_manifest
from sepflow.errors import SepflowError

# demo: paired sets in the VoiceBank+DEMAND layout, pools in the DNS layout.
POOL_FOLDERS = {"pool_clean": "dns/clean", "pool_noise": "dns/noise", "pool_rir": "dns/impulse_responses"}
PAIRED_SPLITS = ("train", "valid", "test")
RECIPE_SPLITS = {"demo": PAIRED_SPLITS + tuple(POOL_FOLDERS)}


def build_manifest(audio_dir: Path, data_root: Path, dataset: str, split: str, sample_rate: int) -> Manifest:
    """The manifest of one split of a prepared dataset under data/audio/{dataset}."""
    if split in PAIRED_SPLITS:
        return paired_manifest(audio_dir / split, data_root, dataset, split, sample_rate)
    if split in POOL_FOLDERS:
        return pool_manifest(audio_dir / POOL_FOLDERS[split], data_root, dataset, split, sample_rate)
    raise SepflowError(f"dataset {dataset!r} has no split {split!r}; splits: {list(PAIRED_SPLITS + tuple(POOL_FOLDERS))}")
