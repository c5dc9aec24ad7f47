"""Loss registry: each experiment's training recipe names a loss and its weights.

Every loss is an nn.Module called as loss(estimate, target) on waveform batches of equal
shape, (batch, channels, time), returning a scalar. Spectral losses take their STFT inside.
"""

from __future__ import annotations

import importlib

from torch import nn

from sepflow.errors import SepflowError

LOSSES: dict[str, str] = {
    "l1": "sepflow.losses.time:L1Loss",
    "l1_mrstft": "sepflow.losses.stft:L1MultiResolutionSTFTLoss",
    "mrstft": "sepflow.losses.stft:MultiResolutionSTFTLoss",
    "magnitude_mse": "sepflow.losses.spectral:MagnitudeMSELoss",
    "spectral": "sepflow.losses.spectral:ComplexMagnitudeLoss",
}


def build_loss(name: str, **args) -> nn.Module:
    """Instantiate a registered loss; a wrong argument names the loss and the argument."""
    if name not in LOSSES:
        raise SepflowError(f"unknown loss {name!r}; choose one of: {', '.join(sorted(LOSSES))}")
    module, cls = LOSSES[name].split(":")
    try:
        return getattr(importlib.import_module(module), cls)(**args)
    except TypeError as exc:
        raise SepflowError(f"bad arguments for loss {name!r}: {exc}") from None
