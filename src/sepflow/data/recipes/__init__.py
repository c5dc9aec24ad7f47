"""Corpus recipes: one class per corpus (the interface is `base.CorpusRecipe`), registered by
name (the `recipe:` of a dataset). Each validates its own options (an unknown key under
`datasets.NAME` is refused with its path), says its splits and their manifest kinds, what it
reads, how it is prepared into data/audio/{dataset} and where each prepared split lives.
Manifests are then built by the split's kind (paired, stems or pool manifests).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sepflow.data.manifest import Manifest, paired_manifest, pool_manifest, stems_manifest
from sepflow.data.recipes.base import CorpusRecipe
from sepflow.errors import SepflowError
from sepflow.registry import Registry

RECIPES = Registry(
    "recipe",
    {
        "demo": "sepflow.demo.speech_recipe:DemoSpeech",
        "demo_music": "sepflow.demo.music_recipe:DemoMusic",
        "dns": "sepflow.data.recipes.dns:Dns",
        "musan": "sepflow.data.recipes.musan:Musan",
        "musdb": "sepflow.data.recipes.musdb:Musdb",
        "paired_folder": "sepflow.data.recipes.paired_folder:PairedFolder",
        "rirs": "sepflow.data.recipes.rirs:Rirs",
        "stems_folder": "sepflow.data.recipes.stems_folder:StemsFolder",
        "vctk_demand": "sepflow.data.recipes.vctk_demand:VctkDemand",
    },
)


def parse_dataset(section: Mapping[str, Any], where: str, prepared: bool = False) -> CorpusRecipe:
    """The recipe of one `datasets.NAME` section, its options validated (shapes, then the
    checks that need the filesystem: a user's folder exists and, unless the dataset is
    `prepared` already, holds pairs)."""
    if not isinstance(section, Mapping) or "recipe" not in section:
        raise SepflowError(f"{where}.recipe: missing; name a corpus recipe, one of: {', '.join(sorted(RECIPES))}")
    cls: type[CorpusRecipe] = RECIPES.load(section["recipe"], f"{where}.recipe")
    recipe = cls(cls.Options.parse(section, where))
    recipe.check(where)
    if not prepared:
        recipe.check_contents(where)
    return recipe


def recipe_from_json(text: str) -> CorpusRecipe:
    """The recipe of a dataset's options as a job receives them (validated when the plan was built)."""
    cls: type[CorpusRecipe] = RECIPES.load(json.loads(text)["recipe"])
    return cls(cls.Options.from_json(text))


def build_manifest(
    recipe: CorpusRecipe, audio_dir: Path, data_root: Path, dataset: str, split: str, threads: int = 1
) -> Manifest:
    """The manifest of one split of a prepared dataset under data/audio/{dataset}, its files
    read and hashed on `threads` threads."""
    kinds = recipe.splits()
    if split not in kinds:
        raise SepflowError(f"dataset {dataset!r} has no split {split!r}; splits: {sorted(kinds)}")
    folder = recipe.split_dir(audio_dir, split)
    rate = recipe.sample_rate
    if kinds[split] == "stems":
        return stems_manifest(folder, data_root, dataset, split, rate, recipe.sources(), threads)
    if kinds[split] == "pool":
        return pool_manifest(folder, data_root, dataset, split, rate, recipe.task, threads)
    return paired_manifest(folder, data_root, dataset, split, rate, threads)
