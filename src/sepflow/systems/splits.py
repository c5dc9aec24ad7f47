"""Checks that a named split exists and is of the kind its use needs."""

from __future__ import annotations

from collections.abc import Mapping

from sepflow.data.recipes.base import CorpusRecipe
from sepflow.errors import SepflowError
from sepflow.specs import SplitRef


def _kinds(datasets: Mapping[str, CorpusRecipe], split: SplitRef, where: str) -> dict[str, str]:
    if split.dataset not in datasets:
        raise SepflowError(f"{where}: dataset {split.dataset!r} is not defined under datasets: {sorted(datasets)}")
    return datasets[split.dataset].splits()


def check_split(datasets: Mapping[str, CorpusRecipe], split: SplitRef, where: str) -> None:
    """A split to train, validate or test on: it must exist and hold targets (not a pool)."""
    kinds = _kinds(datasets, split, where)
    if split.split not in kinds:
        raise SepflowError(f"{where}: dataset {split.dataset!r} has no split {split.split!r}; it has {list(kinds)}")
    if kinds[split.split] == "pool":
        usable = [name for name, kind in kinds.items() if kind != "pool"]
        raise SepflowError(
            f"{where}: {split} is a pool of single files for on-the-fly mixing, with no "
            f"references to train or score against; use one of {usable}"
        )


def check_pool(datasets: Mapping[str, CorpusRecipe], pool: SplitRef, where: str) -> None:
    """A pool to mix from: it must exist and be a pool of single files."""
    kinds = _kinds(datasets, pool, where)
    if kinds.get(pool.split) != "pool":
        pools = [name for name, kind in kinds.items() if kind == "pool"]
        raise SepflowError(f"{where}: {pool} is not a pool of {pool.dataset}; its pools are {pools}")
