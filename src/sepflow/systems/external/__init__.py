"""Other toolkits' trained enhancers, run as they ship (a C library and its model inside a
wheel): each is one module with one class, registered below, built with the test set's sample
rate and sources and the experiment's `args`; it resamples, runs per channel and aligns its
output itself, and reports its provenance (package, version, file checksums, delay)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from sepflow.errors import SepflowError
from sepflow.registry import Registry
from sepflow.systems.base import PlanContext, System

EXTERNAL = Registry("external system", {}, leading=("sample_rate", "sources"))


class ExternalSystem(System):
    kind: Literal["external"] = "external"
    external: str
    args: dict[str, Any] = {}

    config_key = "external"
    keys = ("external", "args")

    @classmethod
    def from_config(cls, section: Mapping[str, Any], where: str, context: PlanContext) -> ExternalSystem:
        name, args = section["external"], section.get("args") or {}
        if name not in EXTERNAL:
            raise EXTERNAL.unknown(name, f"{where}.external")
        if not isinstance(args, Mapping):
            raise SepflowError(f"{where}.args: give the system's arguments as a mapping, got {args!r}")
        EXTERNAL.bind(name, args, f"{where}.args")
        return cls(external=name, args=dict(args))

    def load(self, sample_rate, sources, assets, enhance, device="auto"):
        return EXTERNAL.build(self.external, sample_rate, tuple(sources), **self.args)

    def facts(self, assets: Mapping[str, str]) -> dict[str, Any]:
        return EXTERNAL.build(self.external, 48000, ("speech",), **self.args).facts()
