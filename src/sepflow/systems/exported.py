"""A trained experiment's model as its ONNX export (`sepflow export`: results/{experiment}/export),
run by onnxruntime: scored by the same pipeline as the model it was exported from, so a table
shows whether shipping the graph changes a number."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field

from sepflow.errors import SepflowError
from sepflow.models import MODELS
from sepflow.models.streaming import STREAMERS
from sepflow.registry import did_you_mean
from sepflow.specs import Flag
from sepflow.systems.base import PlanContext, System


class ExportedSystem(System):
    kind: Literal["exported"] = "exported"
    exported: str = Field(description="the trained experiment whose model.pt is exported")
    streaming: Flag = False
    """Run the stream graphs hop by hop (a causal model's), not the offline graph."""

    config_key = "exported"
    keys = ("exported", "streaming")

    @classmethod
    def from_config(cls, section: Mapping[str, Any], where: str, context: PlanContext) -> ExportedSystem:
        from sepflow.export.onnx_graph import require_exporter

        try:
            require_exporter()
        except SepflowError as exc:
            raise SepflowError(f"{where}.exported: {exc}") from None
        return cls.parse(section, where)

    def check_plan(self, experiment: str, experiments: Mapping[str, Any], context: PlanContext) -> None:
        where = f"experiments.{experiment}.exported"
        source = experiments.get(self.exported)
        if source is None:
            raise SepflowError(
                f"{where}: no experiment {self.exported!r}{did_you_mean(self.exported, experiments)}; "
                "name a trained experiment of this config"
            )
        if source.system.makes_model != "train_model":
            raise SepflowError(f"{where}: {self.exported} is not trained here ({source.system.kind}); name one that is")
        model, args = source.system.model, source.system.args
        if self.streaming and (model not in STREAMERS or not _causal(model, args)):
            raise SepflowError(
                f"experiments.{experiment}.streaming: {self.exported}'s {model} cannot stream (a causal "
                f"tcm_unet or demucs can); drop streaming to run its offline graph"
            )
        for split in experiments[experiment].test_sets:
            source.system.check_test_set(split, experiment, experiments[experiment].enhance, context)

    def assets(self, layout, experiment: str) -> dict[str, str]:
        return {"export": layout.export(self.exported)}

    def load(self, sample_rate, sources, assets, enhance, device="auto"):
        from sepflow.export import load_onnx_separator

        separator = load_onnx_separator(
            assets["export"],
            streaming=self.streaming,
            channel_mode=enhance.channel_mode,
            chunk_seconds=enhance.chunk_seconds,
            overlap_seconds=enhance.overlap_seconds,
            threads=1,
        )
        if separator.sample_rate != sample_rate or list(separator.sources) != list(sources):
            raise SepflowError(
                f"{assets['export']} runs at {separator.sample_rate} Hz for {list(separator.sources)}, "
                f"the test set is {sample_rate} Hz with {list(sources)}."
            )
        return separator

    def facts(self, assets: Mapping[str, str], sample_rate: int) -> dict[str, Any]:
        """Its parameters (the exported model's) and the graph's real-time factor in onnxruntime."""
        from sepflow.export import read_export
        from sepflow.infer.options import EnhanceOptions
        from sepflow.infer.speed import separator_rtf

        info = read_export(assets["export"])
        separator = self.load(info["sample_rate"], info["sources"], assets, EnhanceOptions())
        return {"parameters": info["parameters"], "rtf": separator_rtf(separator, info["sample_rate"])}


def _causal(model: str, args: Mapping[str, Any]) -> bool:
    """Whether a registered model with `args` is causal (its `causal` argument, or its default)."""
    parameter = inspect.signature(MODELS.load(model)).parameters.get("causal")
    return bool(args.get("causal", parameter.default if parameter is not None else True))
