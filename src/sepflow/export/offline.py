"""The offline graph of any model: (batch, channels, time) -> (batch, sources, channels, time)
with dynamic batch and time axes."""

from __future__ import annotations

import torch
from torch import nn

from sepflow.errors import SepflowError
from sepflow.models import MODELS, as_sources

_ISTFT = "torch 2.13's exporter fixes torch.istft's `length` to the traced length, so its graph takes one length only"
NOT_EXPORTABLE: dict[str, str] = {
    "semamba": f"{_ISTFT}; its selective scan loops in Python over blocks of the batch and of time, fixing both",
    "spec_unet": _ISTFT,
}
"""Models (by registry name) whose offline graph torch 2.13's exporter cannot make, and why."""


class OfflineGraph(nn.Module):
    """A model with its output in the one layout every export shares."""

    def __init__(self, model: nn.Module, n_sources: int):
        super().__init__()
        self.model, self.n_sources = model, n_sources

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        return as_sources(self.model(audio), self.n_sources)


def offline_graph(model: nn.Module, n_sources: int) -> OfflineGraph:
    """The module to export offline; a model the exporter cannot take is one line saying why."""
    name = MODELS.name_of(model) or type(model).__name__
    if name in NOT_EXPORTABLE:
        raise SepflowError(f"{name} has no offline ONNX graph: {NOT_EXPORTABLE[name]}")
    if name == "tcm_unet":
        from sepflow.export.tcm_unet_graphs import TCMUNetOffline

        model = TCMUNetOffline(model)
    return OfflineGraph(model, n_sources).eval()


def dynamic_axes() -> tuple[dict[int, torch.export.Dim], ...]:
    """Batch and time dynamic; the exporter finds the range the model holds for (and fails
    rather than fix an axis to the traced size)."""
    return ({0: torch.export.Dim.DYNAMIC, 2: torch.export.Dim.DYNAMIC},)
