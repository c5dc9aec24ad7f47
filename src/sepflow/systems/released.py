"""Released weights: a published checkpoint by URL and sha256, converted into our checkpoint
format by the fetch_released rule, then enhanced and scored like a trained model."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field

from sepflow.errors import SepflowError
from sepflow.models import MODELS
from sepflow.specs import Count, Spec
from sepflow.systems.base import PlanContext
from sepflow.systems.checkpoint import ModelFileSystem


class ReleasedWeights(Spec):
    """The `pretrained:` section."""

    url: str
    sha256: str = Field(pattern=r"^[0-9a-f]{8,64}$", description="the file's sha256 (or its first 8+ hex digits)")
    model: str
    args: dict[str, Any] = {}
    sample_rate: Count = 16000


class ReleasedSystem(ModelFileSystem):
    kind: Literal["released"] = "released"
    pretrained: ReleasedWeights

    config_key = "pretrained"
    makes_model = "fetch_released"
    keys = ("pretrained",)

    @classmethod
    def from_config(cls, section: Mapping[str, Any], where: str, context: PlanContext) -> ReleasedSystem:
        weights = ReleasedWeights.parse(section["pretrained"], f"{where}.pretrained")
        if weights.model not in MODELS:
            raise MODELS.unknown(weights.model, f"{where}.pretrained.model")
        MODELS.bind(weights.model, weights.args, f"{where}.pretrained.args")
        return cls(pretrained=weights)

    def check_test_set(self, split, experiment, enhance, context) -> None:
        rate = context.datasets[split.dataset].sample_rate
        if rate != self.pretrained.sample_rate:
            raise SepflowError(
                f"experiments.{experiment}.test_sets: {split} is at {rate} Hz but the released model runs at "
                f"{self.pretrained.sample_rate} Hz; test it on a dataset prepared at that rate."
            )
