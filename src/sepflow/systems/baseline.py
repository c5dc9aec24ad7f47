"""A separator that needs no training and no files: the unprocessed input, spectral gating,
the oracle ideal ratio mask (sepflow.infer.baselines)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from sepflow.infer.baselines import BASELINES, UNPROCESSED, build_baseline
from sepflow.systems.base import PlanContext, System, named


class BaselineSystem(System):
    kind: Literal["baseline"] = "baseline"
    baseline: str
    args: dict[str, Any] = {}

    config_key = "baseline"
    keys = ("baseline", "args")

    @classmethod
    def from_config(cls, section: Mapping[str, Any], where: str, context: PlanContext) -> BaselineSystem:
        name, args = named(section, "baseline", BASELINES, where)
        BASELINES.bind(name, args, f"{where}.args")
        return cls(baseline=name, args=args)

    def is_unprocessed(self) -> bool:
        return self.baseline in UNPROCESSED

    def load(self, sample_rate, sources, assets, enhance, device="auto"):
        return build_baseline(self.baseline, sample_rate, sources, **self.args)
