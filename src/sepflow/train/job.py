"""What a training job needs, as the workflow hands it over (JSON in the rule's params) and as
`launch` passes it to each training process."""

from __future__ import annotations

from typing import Any

from sepflow.data.datasets.specs import TrainingDataSpec
from sepflow.specs import Spec
from sepflow.train.recipe import Recipe


class TrainJob(Spec):
    experiment: str
    model: str
    args: dict[str, Any]
    data: TrainingDataSpec
    recipe: dict[str, Any]
    """sepflow.train.recipe.Recipe, every key (defaults and seed included)."""
    manifests: dict[str, str]
    """The manifest of each split training reads, by `dataset/split`."""
    out_dir: str
    device: str = "auto"

    @property
    def training_recipe(self) -> Recipe:
        return Recipe.from_config(self.recipe, f"experiments.{self.experiment}.train")
