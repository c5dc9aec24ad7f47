"""Other toolkits' trained enhancers, run as they ship (a C library and its model inside a
wheel): each is one module with one class, registered below, built with the test set's sample
rate and sources and the experiment's `args`; it resamples, runs per channel and aligns its
output itself, and reports its provenance (package, version, file checksums, delay)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from sepflow.errors import SepflowError
from sepflow.registry import Registry
from sepflow.systems.base import PlanContext, System, named

EXTERNAL = Registry(
    "external system",
    {
        "deepfilternet3": "sepflow.systems.external.deepfilternet3:DeepFilterNet3",
        "rnnoise": "sepflow.systems.external.rnnoise:RNNoise",
    },
    leading=("sample_rate", "sources"),
)


class ExternalSystem(System):
    kind: Literal["external"] = "external"
    external: str
    args: dict[str, Any] = {}

    config_key = "external"
    keys = ("external", "args")

    @classmethod
    def from_config(cls, section: Mapping[str, Any], where: str, context: PlanContext) -> ExternalSystem:
        name, args = named(section, "external", EXTERNAL, where)
        return cls(external=name, args=args)

    def check_test_set(self, split, experiment, enhance, context) -> None:
        """Built once per test set when the plan is: a missing package, a bad argument or a
        test set it cannot enhance is one line now, before any job."""
        recipe = context.datasets[split.dataset]
        try:
            EXTERNAL.build(self.external, recipe.sample_rate, recipe.sources(), **self.args)
        except SepflowError as exc:
            raise SepflowError(f"experiments.{experiment}.external: {exc}") from None

    def assets(self, layout, experiment: str) -> dict[str, str]:
        """The library and model files it loads: a reinstalled wheel reruns its test sets."""
        return {name: str(path) for name, path in EXTERNAL.load(self.external).asset_files().items()}

    def load(self, sample_rate, sources, assets, enhance, device="auto"):
        return EXTERNAL.build(self.external, sample_rate, tuple(sources), **self.args)

    def facts(self, assets: Mapping[str, str], sample_rate: int) -> dict[str, Any]:
        """Its provenance, and its real-time factor on one thread measured as our models' is."""
        from sepflow.infer.speed import separator_rtf

        system = EXTERNAL.build(self.external, sample_rate, ("speech",), **self.args)
        return {**system.facts(), "rtf": separator_rtf(system, sample_rate)}
