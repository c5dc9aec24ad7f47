"""MetricGAN-style discriminator (Fu et al. 2019, as in MP-SENet and SEMamba).

It scores a pair of compressed magnitude spectrograms, (reference, estimate), with a number
in [0, 1] trained to match the normalised PESQ of the estimate, (PESQ - 1) / 3.5. The
generator is then pushed towards a score of 1. State-dict names and shapes are those of the
official `pretrained_discriminator.pth` (`layers.0.weight_orig` ... `layers.18.slope`,
181,650 parameters at dim 16), hence the classic `spectral_norm` hooks.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import spectral_norm

from sepflow.models.semamba import LearnableSigmoid


class MetricDiscriminator(nn.Module):
    def __init__(self, dim: int = 16, in_channels: int = 2):
        super().__init__()
        layers: list[nn.Module] = []
        channels = [in_channels, dim, dim * 2, dim * 4, dim * 8]
        for c_in, c_out in zip(channels[:-1], channels[1:]):
            layers += [
                spectral_norm(nn.Conv2d(c_in, c_out, (4, 4), (2, 2), (1, 1), bias=False)),
                nn.InstanceNorm2d(c_out, affine=True),
                nn.PReLU(c_out),
            ]
        layers += [
            nn.AdaptiveMaxPool2d(1),
            nn.Flatten(),
            spectral_norm(nn.Linear(dim * 8, dim * 4)),
            nn.Dropout(0.3),
            nn.PReLU(dim * 4),
            spectral_norm(nn.Linear(dim * 4, 1)),
            LearnableSigmoid((1,), beta=1.0),
        ]
        self.layers = nn.Sequential(*layers)

    def forward(self, reference: torch.Tensor, estimate: torch.Tensor) -> torch.Tensor:
        """(batch, freq, frames) magnitudes, twice -> scores (batch, 1)."""
        return self.layers(torch.stack((reference, estimate), dim=1))
