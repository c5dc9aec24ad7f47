"""The run configuration: experiments, datasets and test sets as config.yaml describes them.

The JSON schema (workflow/schemas/config.schema.yaml) checks shapes and types; this module
checks what a schema cannot (names that must refer to each other, registered models and
losses) and answers the questions the workflow asks of the config.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sepflow.data.recipes import RECIPES, dataset_splits, get_recipe
from sepflow.errors import SepflowError
from sepflow.infer.baselines import BASELINES
from sepflow.losses import LOSSES
from sepflow.models import MODELS
from sepflow.train.recipe import Recipe



@dataclass(frozen=True)
class TestSet:
    dataset: str
    split: str

    @property
    def name(self) -> str:
        return f"{self.dataset}/{self.split}"


def canonical_json(obj) -> str:
    """Sorted, compact JSON: rule params that do not change when YAML keys are reordered."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def parse_test_set(text: str, where: str) -> TestSet:
    dataset, sep, split = text.partition("/")
    if not sep or not dataset or not split:
        raise SepflowError(f"{where}: test set {text!r} must read DATASET/SPLIT, e.g. demo/test")
    return TestSet(dataset, split)


def check_config(config: dict) -> None:
    """Cross-references the schema cannot express; the first problem raises, naming the key."""
    datasets = config["datasets"]
    for name, ds in datasets.items():
        if ds["recipe"] not in RECIPES:
            raise SepflowError(f"datasets.{name}.recipe: unknown recipe {ds['recipe']!r}; choose one of {sorted(RECIPES)}")
        get_recipe(ds["recipe"]).check(ds, f"datasets.{name}")
    for name, exp in config["experiments"].items():
        where = f"experiments.{name}"
        if sum(key in exp for key in ("model", "baseline", "pretrained")) != 1:
            raise SepflowError(f"{where}: give exactly one of 'model' (a network to train), 'pretrained' "
                               "(released weights by url and sha256) or 'baseline'.")
        if "pretrained" in exp and exp["pretrained"]["model"] not in MODELS:
            raise SepflowError(f"{where}.pretrained.model: unknown model {exp['pretrained']['model']!r}; "
                               f"choose one of {sorted(MODELS)}")
        if "baseline" in exp and exp["baseline"] not in BASELINES:
            raise SepflowError(f"{where}.baseline: unknown baseline {exp['baseline']!r}; choose one of {sorted(BASELINES)}")
        if "model" in exp:
            if exp["model"] not in MODELS:
                raise SepflowError(f"{where}.model: unknown model {exp['model']!r}; choose one of {sorted(MODELS)}")
            for key in ("data", "train"):
                if key not in exp:
                    raise SepflowError(f"{where}: a trained model needs a '{key}' section.")
            recipe = Recipe.from_config(exp["train"], where=f"{where}.train")
            if recipe.loss["name"] not in LOSSES:
                raise SepflowError(f"{where}.train.loss.name: unknown loss {recipe.loss['name']!r}; choose one of {sorted(LOSSES)}")
            if "mixing" in exp["data"]:
                for role, pool in pool_names(exp["data"]["mixing"]):
                    ds, _, split = pool.partition("/")
                    _check_pool(config, ds, split, f"{where}.data.mixing.{role}")
            else:
                _check_split(config, exp["data"]["dataset"], exp["data"]["train"], f"{where}.data.train")
                _check_split(config, exp["data"]["dataset"], exp["data"]["valid"], f"{where}.data.valid")
        for text in exp["test_sets"]:
            ts = parse_test_set(text, f"{where}.test_sets")
            _check_split(config, ts.dataset, ts.split, f"{where}.test_sets")


def _check_split(config: dict, dataset: str, split: str, where: str) -> None:
    """A split to train, validate or test on: it must exist and hold targets (not a pool)."""
    if dataset not in config["datasets"]:
        raise SepflowError(f"{where}: dataset {dataset!r} is not defined under datasets: {sorted(config['datasets'])}")
    splits = dataset_splits(config["datasets"][dataset])
    if split not in splits:
        raise SepflowError(f"{where}: dataset {dataset!r} has no split {split!r}; it has {list(splits)}")
    if splits[split] == "pool":
        usable = [name for name, kind in splits.items() if kind != "pool"]
        raise SepflowError(f"{where}: {dataset}/{split} is a pool of single files for on-the-fly mixing, with no "
                           f"references to train or score against; use one of {usable}")


def _check_pool(config: dict, dataset: str, split: str, where: str) -> None:
    """A pool to mix from: it must exist and be a pool of single files."""
    if dataset not in config["datasets"]:
        raise SepflowError(f"{where}: dataset {dataset!r} is not defined under datasets: {sorted(config['datasets'])}")
    splits = dataset_splits(config["datasets"][dataset])
    if splits.get(split) != "pool":
        pools = [name for name, kind in splits.items() if kind == "pool"]
        raise SepflowError(f"{where}: {dataset}/{split} is not a pool of {dataset}; its pools are {pools}")


def pool_names(mixing: dict) -> list[tuple[str, str]]:
    """(role, "dataset/split") of every pool an on-the-fly mixing section names."""
    named = []
    for role in ("speech", "noise", "rirs"):
        value = mixing.get(role, [])
        named += [(role, pool) for pool in ([value] if isinstance(value, str) else value)]
    return named


def training_splits(exp: dict) -> list[tuple[str, str]]:
    """The (dataset, split) manifests an experiment trains and validates on."""
    data = exp["data"]
    if "mixing" in data:
        return [tuple(pool.partition("/")[::2]) for _, pool in pool_names(data["mixing"])]
    return [(data["dataset"], data["train"]), (data["dataset"], data["valid"])]


def trained_experiments(config: dict) -> list[str]:
    return sorted(name for name, exp in config["experiments"].items() if "model" in exp)


def pretrained_experiments(config: dict) -> list[str]:
    return sorted(name for name, exp in config["experiments"].items() if "pretrained" in exp)


def evaluation_targets(config: dict) -> list[tuple[str, TestSet]]:
    """Every (experiment, test set) pair the report covers, in config order."""
    return [(name, parse_test_set(t, name)) for name, exp in config["experiments"].items() for t in exp["test_sets"]]
