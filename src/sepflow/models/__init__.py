"""Model registry: experiments name a model and its constructor arguments in the config.

Entries are "module:Class" strings imported on first use, so importing sepflow.models is
cheap and a model with an optional dependency (mamba-ssm) costs nothing until asked for.

Every model is an nn.Module mapping a waveform batch (batch, channels, time) to its
sources, (batch, sources, channels, time), of the same length; a single-source model may
return (batch, channels, time). Spectral models do their STFT inside.
"""

from __future__ import annotations

import torch
from torch import nn

from sepflow.errors import SepflowError
from sepflow.registry import Registry

MODELS = Registry(
    "model",
    {
        "demucs": "sepflow.models.demucs:Demucs",
        "gatewave": "sepflow.models.gatewave:GateWave",
        "semamba": "sepflow.models.semamba:SEMamba",
        "spec_unet": "sepflow.models.spec_unet:SpecUNet",
        "tcm_unet": "sepflow.models.tcm_unet:TCMUNet",
        "unet1d": "sepflow.models.unet1d:UNet1D",
        "waveunet": "sepflow.models.waveunet:WaveUNet",
    },
)


def model_class(name: str) -> type[nn.Module]:
    """The class registered under `name`."""
    return MODELS.load(name)


def build_model(name: str, **args) -> nn.Module:
    """Instantiate a registered model; a wrong argument names the model and the argument."""
    return MODELS.build(name, **args)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def as_sources(estimate: torch.Tensor, n_sources: int) -> torch.Tensor:
    """A model's output as (batch, sources, channels, time), whichever form it returned."""
    if estimate.dim() == 3 and n_sources == 1:
        return estimate[:, None]
    if estimate.dim() != 4 or estimate.shape[1] != n_sources:
        raise SepflowError(
            f"the model returned shape {tuple(estimate.shape)} but the data has {n_sources} "
            "source(s); choose a model whose outputs match the dataset's sources."
        )
    return estimate
