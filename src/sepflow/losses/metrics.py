"""Differentiable batch metrics used for validation and as losses."""

from __future__ import annotations

import torch

EPS = 1e-8


def batch_si_snr(estimate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """SI-SNR in dB per batch item over all channels and samples, zero-mean."""
    est = estimate.reshape(estimate.shape[0], -1)
    ref = target.reshape(target.shape[0], -1)
    est = est - est.mean(dim=1, keepdim=True)
    ref = ref - ref.mean(dim=1, keepdim=True)
    proj = (est * ref).sum(1, keepdim=True) / (ref.pow(2).sum(1, keepdim=True) + EPS) * ref
    noise = est - proj
    return 10 * torch.log10((proj.pow(2).sum(1) + EPS) / (noise.pow(2).sum(1) + EPS))
