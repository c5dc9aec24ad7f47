"""Corpus recipes: one module per corpus, registered by name (the `recipe:` of a dataset).

A recipe module knows its corpus: which splits it has and of what kind, how its config
is checked, what it is made from, how it is prepared into data/audio/{dataset}, and where
each prepared split lives. It defines:

    TASK: str                                   "speech" | "music"
    splits(cfg) -> dict[str, str]               split name -> manifest kind (paired, stems, pool)
    check(cfg, where) -> None                   SepflowError naming f"{where}.KEY" and the fix
    inputs(cfg) -> list[str]                    files outside data/ it reads (a user's folder), so
                                                that a change to them rebuilds the prepared copy
    prepare(cfg, audio_dir, *, raw_dir, seed, workers, log) -> None
    split_dir(cfg, audio_dir, split) -> Path    where a prepared split lives
and, where the corpus is downloaded, download(cfg, raw_dir, log) -> None.

Manifests are then built by the split's kind (paired, stems or pool manifests).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

from sepflow.data.manifest import MUSIC_SOURCES, Manifest, paired_manifest, pool_manifest, stems_manifest
from sepflow.errors import SepflowError

RECIPES: dict[str, str] = {
    "demo": "sepflow.data.recipes.demo",
    "demo_music": "sepflow.data.recipes.demo_music",
    "dns": "sepflow.data.recipes.dns",
    "musan": "sepflow.data.recipes.musan",
    "musdb": "sepflow.data.recipes.musdb",
    "paired_folder": "sepflow.data.recipes.paired_folder",
    "rirs": "sepflow.data.recipes.rirs",
    "stems_folder": "sepflow.data.recipes.stems_folder",
    "vctk_demand": "sepflow.data.recipes.vctk_demand",
}


def get_recipe(name: str) -> ModuleType:
    if name not in RECIPES:
        raise SepflowError(f"unknown recipe {name!r}; choose one of {sorted(RECIPES)}")
    return importlib.import_module(RECIPES[name])


def dataset_splits(cfg: dict) -> dict[str, str]:
    """The splits of a configured dataset and their kinds."""
    return get_recipe(cfg["recipe"]).splits(cfg)


def build_manifest(cfg: dict, audio_dir: Path, data_root: Path, dataset: str, split: str) -> Manifest:
    """The manifest of one split of a prepared dataset under data/audio/{dataset}."""
    recipe = get_recipe(cfg["recipe"])
    kinds = recipe.splits(cfg)
    if split not in kinds:
        raise SepflowError(f"dataset {dataset!r} has no split {split!r}; splits: {sorted(kinds)}")
    folder = recipe.split_dir(cfg, audio_dir, split)
    kind = kinds[split]
    rate = cfg["sample_rate"]
    if kind == "stems":
        return stems_manifest(folder, data_root, dataset, split, rate, tuple(cfg.get("sources", MUSIC_SOURCES)))
    if kind == "pool":
        return pool_manifest(folder, data_root, dataset, split, rate, recipe.TASK)
    return paired_manifest(folder, data_root, dataset, split, rate)
