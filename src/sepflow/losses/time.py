"""Time-domain losses on waveforms."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class L1Loss(nn.Module):
    """Mean absolute sample difference: robust to outliers and keeps the waveform's phase."""

    def forward(self, estimate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.l1_loss(estimate, target)
