"""Multi-resolution STFT loss (Yamamoto et al., Parallel WaveGAN; used by Demucs for speech).

One STFT size cannot resolve both the fine harmonics and the fast onsets of speech, so the
loss compares magnitudes at several resolutions. At each one it adds the spectral
convergence (the relative Frobenius error of the magnitudes, dominated by loud bins) and
the L1 distance of log magnitudes (which weighs quiet bins too), then averages over them.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from sepflow.audio.stft import stft
from sepflow.errors import SepflowError
from sepflow.losses.time import L1Loss


def magnitude(spec: torch.Tensor, floor: float) -> torch.Tensor:
    """|spec| with the power clamped to `floor` first, so sqrt, log and their gradients stay finite on silence."""
    return torch.sqrt(torch.clamp(spec.real.square() + spec.imag.square(), min=floor))


class MultiResolutionSTFTLoss(nn.Module):
    """factor_sc * spectral convergence + factor_mag * log-magnitude L1, averaged over resolutions."""

    def __init__(
        self,
        fft_sizes: Sequence[int] = (512, 1024, 2048),
        hop_sizes: Sequence[int] = (50, 120, 240),
        win_lengths: Sequence[int] = (240, 600, 1200),
        factor_sc: float = 1.0,
        factor_mag: float = 1.0,
        floor: float = 1e-7,
    ):
        super().__init__()
        if not len(fft_sizes) == len(hop_sizes) == len(win_lengths):
            raise ValueError("fft_sizes, hop_sizes and win_lengths must have the same length")
        self.resolutions = list(zip(fft_sizes, hop_sizes, win_lengths))
        self.factor_sc = factor_sc
        self.factor_mag = factor_mag
        self.floor = floor

    def forward(self, estimate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        shortest = max(n_fft for n_fft, _, _ in self.resolutions) // 2 + 1
        if target.shape[-1] < shortest:
            raise SepflowError(
                f"the multi-resolution STFT loss needs segments of at least {shortest} samples, "
                f"got {target.shape[-1]}; raise the training segment length or use smaller fft_sizes"
            )
        sc = mag = 0.0
        for n_fft, hop, win_length in self.resolutions:
            est = magnitude(stft(estimate, n_fft, hop, win_length), self.floor)
            ref = magnitude(stft(target, n_fft, hop, win_length), self.floor)
            sc = sc + torch.linalg.vector_norm(ref - est) / torch.linalg.vector_norm(ref)
            mag = mag + F.l1_loss(torch.log(est), torch.log(ref))
        count = len(self.resolutions)
        return (self.factor_sc * sc + self.factor_mag * mag) / count


class L1MultiResolutionSTFTLoss(nn.Module):
    """alpha * L1 + beta * multi-resolution STFT: the waveform models' recipe."""

    def __init__(self, alpha: float = 1.0, beta: float = 1.0, **mrstft_args):
        super().__init__()
        self.alpha = alpha
        self.beta = beta
        self.l1 = L1Loss()
        self.mrstft = MultiResolutionSTFTLoss(**mrstft_args)

    def forward(self, estimate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.alpha * self.l1(estimate, target) + self.beta * self.mrstft(estimate, target)
