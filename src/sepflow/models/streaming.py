"""One streaming protocol for every causal model, and one `stream()` that drives it.

A streamer takes audio chunk by chunk, of any size, and returns each output sample as
soon as the input it depends on has arrived; the concatenated output of `feed` calls and
the final `flush` is aligned with the input and as long as it. The streamers live beside
their models (demucs_stream.py, tcm_unet_stream.py), which they fold into plain tensors.
"""

from __future__ import annotations

from typing import Protocol

import torch
from torch import nn

from sepflow.errors import SepflowError
from sepflow.models import MODELS
from sepflow.registry import Registry


class Streamer(Protocol):
    hop: int
    """Samples per step of the model: output comes in multiples of it."""
    latency: int
    """Input samples after sample n that must arrive before output n is released, at most."""

    def feed(self, chunk: torch.Tensor) -> torch.Tensor:
        """(channels, n) more input -> (channels, m) output samples now determined."""

    def flush(self) -> torch.Tensor:
        """End the signal: the rest of the output; the streamer is then reset."""

    def reset(self) -> None:
        """Forget the signal so far, for a new one."""


STREAMERS = Registry(
    "streamer",
    {
        "demucs": "sepflow.models.demucs_stream:DemucsStreamer",
        "tcm_unet": "sepflow.models.tcm_unet_stream:TCMUNetStreamer",
    },
)
"""Keyed by the model's registry name (the name a checkpoint stores)."""


def can_stream(model: nn.Module) -> bool:
    """Whether `model` has a streamer and is causal (a non-causal Demucs has none)."""
    return MODELS.name_of(model) in STREAMERS and getattr(model, "causal", True)


def make_streamer(model: nn.Module, **options) -> Streamer:
    """The streamer of `model` (in eval mode, on CPU); options go to its constructor."""
    if not can_stream(model):
        raise SepflowError(
            f"{MODELS.name_of(model) or type(model).__name__} cannot stream: streaming models are causal "
            f"{sorted(STREAMERS)}; drop --stream to run it offline."
        )
    return STREAMERS.build(MODELS.name_of(model), model.eval(), **options)


def stream(streamer: Streamer, audio: torch.Tensor, chunk: int) -> torch.Tensor:
    """Run (channels, T) audio through `streamer` `chunk` samples at a time; (channels, T)."""
    if chunk < 1:
        raise ValueError(f"chunk must be a positive number of samples, got {chunk}")
    streamer.reset()
    outs = [streamer.feed(audio[:, start : start + chunk]) for start in range(0, audio.shape[1], chunk)]
    return torch.cat([*outs, streamer.flush()], dim=1)
