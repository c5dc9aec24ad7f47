"""Single-resolution spectral MSE losses, the recipes of the spectrogram models.

Both take the STFT of estimate and target inside, with the same parameters as the model
they train, so the loss sees the spectrogram the model predicts.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from sepflow.audio.stft import stft
from sepflow.losses.stft import magnitude

# Only guards sqrt's gradient at zero power; far below any audible magnitude.
POWER_FLOOR = 1e-12


class MagnitudeMSELoss(nn.Module):
    """MSE between STFT magnitudes (spec_unet's recipe)."""

    def __init__(self, n_fft: int = 512, hop: int = 128):
        super().__init__()
        self.n_fft = n_fft
        self.hop = hop

    def forward(self, estimate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        est = magnitude(stft(estimate, self.n_fft, self.hop), POWER_FLOOR)
        ref = magnitude(stft(target, self.n_fft, self.hop), POWER_FLOOR)
        return F.mse_loss(est, ref)


class ComplexMagnitudeLoss(nn.Module):
    """complex_weight * MSE(real, imag) + (1 - complex_weight) * MSE(magnitude) (tcm_unet's recipe).

    The complex term is the mean over real and imaginary parts taken as separate values, so
    it trains the phase that a magnitude loss alone leaves free.
    """

    def __init__(self, n_fft: int = 320, hop: int = 160, complex_weight: float = 0.3):
        super().__init__()
        if not 0.0 <= complex_weight <= 1.0:
            raise ValueError(f"complex_weight must lie in [0, 1], got {complex_weight}")
        self.n_fft = n_fft
        self.hop = hop
        self.complex_weight = complex_weight

    def forward(self, estimate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        est = stft(estimate, self.n_fft, self.hop)
        ref = stft(target, self.n_fft, self.hop)
        complex_mse = F.mse_loss(torch.view_as_real(est), torch.view_as_real(ref))
        magnitude_mse = F.mse_loss(magnitude(est, POWER_FLOOR), magnitude(ref, POWER_FLOOR))
        return self.complex_weight * complex_mse + (1.0 - self.complex_weight) * magnitude_mse
