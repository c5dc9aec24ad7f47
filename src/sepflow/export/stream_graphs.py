"""What a streaming export is made of, for any causal model: its graphs (one hop with the
state as explicit tensors, and for some models a first hop and an end-of-signal block),
the state's shapes and meanings, and the numbers a host needs to drive it."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from sepflow.errors import SepflowError
from sepflow.models import MODELS


@dataclass(frozen=True)
class State:
    """One state tensor: input `state_in_i`, output `state_out_i`; zeros before the first hop
    of a graph set without a `first` graph."""

    meaning: str
    shape: tuple[int, ...]
    dtype: str = "float32"

    def zeros(self) -> torch.Tensor:
        return torch.zeros(self.shape, dtype=getattr(torch, self.dtype))


@dataclass
class StreamGraphs:
    """The modules to export (kind -> module and example inputs) and how a host runs them.

    hop: input samples per `hop` call; first_hop: samples of the `first` call (= hop without
    a first graph); delay: leading output samples to drop (they belong before the signal);
    flush_block: samples of the `flush` graph's block, None when a signal ends with hops of
    zeros; valid: whether the graphs take `valid` (input samples in a zero-padded block).
    """

    hop: int
    first_hop: int
    latency: int
    delay: int
    flush_block: int | None
    valid: bool
    states: list[State]
    modules: dict[str, tuple[nn.Module, tuple[torch.Tensor, ...]]] = field(repr=False)

    def input_names(self, kind: str) -> list[str]:
        names = ["audio"] + (["valid"] if self.valid else [])
        return names + ([] if kind == "first" else [f"state_in_{i}" for i in range(len(self.states))])

    def output_names(self) -> list[str]:
        return ["audio_out"] + [f"state_out_{i}" for i in range(len(self.states))]


def stream_graphs(model: nn.Module) -> StreamGraphs:
    """The streaming graphs of a causal model; a model that cannot stream is one line saying why."""
    name = MODELS.name_of(model) or type(model).__name__
    if name == "tcm_unet":
        from sepflow.export.tcm_unet_graphs import tcm_unet_stream

        return tcm_unet_stream(model)
    if name == "demucs":
        if not model.causal:
            raise SepflowError(
                "demucs with causal: false cannot stream: its LSTM is bidirectional (it reads the whole signal)"
            )
        from sepflow.export.demucs_graphs import demucs_stream

        return demucs_stream(model)
    why = NOT_CAUSAL.get(name, "it has no streamer (sepflow.models.streaming.STREAMERS)")
    raise SepflowError(f"{name} cannot stream: {why}")


NOT_CAUSAL = {
    "gatewave": "its convolutions are centred in time and it normalises by the whole signal's std",
    "semamba": "its Mamba blocks run over time in both directions",
    "spec_unet": "its 2D convolutions are centred in time (they read future frames)",
    "unet1d": "its convolutions are centred in time and it normalises by the whole mixture's std",
    "waveunet": "its convolutions are centred in time (they read future samples)",
}
"""Why each non-causal model cannot stream, in its user's words (by registry name)."""
