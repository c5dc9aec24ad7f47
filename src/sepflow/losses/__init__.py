"""Loss registry: each experiment's training recipe names a loss and its weights.

Every loss is an nn.Module called as loss(estimate, target) on waveform batches of equal
shape, (batch, channels, time), returning a scalar. Spectral losses take their STFT inside;
losses that analyse audio at a fixed rate (STOI) are given the training data's sample rate.
"""

from __future__ import annotations

import inspect

from torch import nn

from sepflow.errors import SepflowError
from sepflow.registry import Registry

LOSSES = Registry(
    "loss",
    {
        "l1": "sepflow.losses.time:L1Loss",
        "l1_mrstft": "sepflow.losses.stft:L1MultiResolutionSTFTLoss",
        "mrstft": "sepflow.losses.stft:MultiResolutionSTFTLoss",
        "magnitude_mse": "sepflow.losses.spectral:MagnitudeMSELoss",
        "spectral": "sepflow.losses.spectral:ComplexMagnitudeLoss",
        "stoi": "sepflow.losses.stoi:STOILoss",
        "sum": "sepflow.losses:WeightedSum",
    },
)


def build_loss(name: str, sample_rate: int, **args) -> nn.Module:
    """Instantiate a registered loss; a wrong name or argument names the loss and the argument."""
    cls = LOSSES.load(name)
    if "sample_rate" in inspect.signature(cls).parameters:
        args["sample_rate"] = sample_rate
    try:
        return cls(**args)
    except (TypeError, ValueError) as exc:
        raise SepflowError(f"{exc} for loss {name!r}") from None


class WeightedSum(nn.Module):
    """sum of weight * term over `terms`, each {name, weight (default 1), its arguments}:
    how a recipe adds an objective (STOI) to a model's own loss without a new loss class."""

    def __init__(self, terms: list[dict], sample_rate: int):
        super().__init__()
        if not terms:
            raise ValueError("terms is empty; list at least one {name: ..., weight: ...}")
        self.weights, built = [], []
        for index, term in enumerate(terms):
            if not isinstance(term, dict) or "name" not in term:
                raise ValueError(f"terms[{index}] is {term!r}; give each term as {{name: ..., weight: ...}}")
            weight = term.get("weight", 1.0)
            if not isinstance(weight, int | float) or isinstance(weight, bool):
                raise ValueError(f"terms[{index}].weight: {weight!r} is not a number")
            args = {key: value for key, value in term.items() if key != "weight"}
            try:
                built.append(build_loss(sample_rate=sample_rate, **args))
            except SepflowError as exc:
                raise SepflowError(f"terms[{index}]: {exc}") from None
            self.weights.append(float(weight))
        self.terms = nn.ModuleList(built)

    def forward(self, estimate, target):
        return sum(weight * term(estimate, target) for weight, term in zip(self.weights, self.terms))
