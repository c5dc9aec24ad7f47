"""SEMamba's training objective (after MP-SENet), with the official weights.

Generator terms, on compressed spectra of unit-RMS-scaled audio:
  magnitude    MSE of the compressed magnitudes
  phase        anti-wrapped instantaneous phase + group delay + instantaneous frequency
  complex      2 x MSE of the compressed complex spectra
  time         L1 of the waveforms
  consistency  2 x MSE between the predicted complex spectrum and the one re-analysed from
               its own waveform
  metric       MSE between the discriminator's score of the estimate and 1
One term is ours, off by default: `stoi`, 1 - STOI of the waveforms
(`sepflow.losses.stoi`), for budgets too small for the metric term to keep intelligibility.
The discriminator learns normalised PESQ, (PESQ - 1) / 3.5, computed on CPU in parallel
(`batch_pesq`); a batch in which any PESQ fails (e.g. a silent segment) gives None and its
discriminator term is skipped, as in the official recipe.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from joblib import Parallel, delayed
from pesq import PesqError, pesq
from torch import nn

from sepflow.losses.stoi import STOILoss

WEIGHTS = {"metric": 0.05, "magnitude": 0.9, "phase": 0.3, "complex": 0.1, "time": 0.2, "consistency": 0.1}
EXTRA_WEIGHTS = {"stoi": 0.0}


def anti_wrap(x: torch.Tensor) -> torch.Tensor:
    """|x| after wrapping x into [-pi, pi]: the distance between two phases."""
    return torch.abs(x - torch.round(x / (2 * math.pi)) * 2 * math.pi)


def _backward_difference(x: torch.Tensor, dim: int) -> torch.Tensor:
    """x[i-1] - x[i] along `dim`, with -x[0] first (the official difference matrices)."""
    first = -x.narrow(dim, 0, 1)
    rest = x.narrow(dim, 0, x.shape[dim] - 1) - x.narrow(dim, 1, x.shape[dim] - 1)
    return torch.cat([first, rest], dim=dim)


def phase_losses(reference: torch.Tensor, estimate: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Instantaneous phase, group delay (along frequency) and instantaneous frequency
    (along time) losses of (batch, freq, frames) phases."""
    ip = anti_wrap(reference - estimate).mean()
    gd = anti_wrap(_backward_difference(reference, 1) - _backward_difference(estimate, 1)).mean()
    iaf = anti_wrap(_backward_difference(reference, 2) - _backward_difference(estimate, 2)).mean()
    return ip, gd, iaf


def _pesq_or_error(reference: np.ndarray, estimate: np.ndarray, sample_rate: int) -> float:
    return pesq(sample_rate, reference, estimate, "wb", on_error=PesqError.RETURN_VALUES)


def batch_pesq(
    reference: torch.Tensor, estimate: torch.Tensor, sample_rate: int = 16000, workers: int = 1
) -> torch.Tensor | None:
    """Normalised wide-band PESQ, (PESQ - 1) / 3.5, of each (batch, time) pair, computed in
    `workers` processes; None when any item fails (PESQ error codes are negative)."""
    reference = reference.detach().float().cpu().numpy()
    estimate = estimate.detach().float().cpu().numpy()
    scores = Parallel(n_jobs=workers)(delayed(_pesq_or_error)(r, e, sample_rate) for r, e in zip(reference, estimate))
    scores = np.asarray(scores, dtype=np.float32)
    if (scores < 0).any():
        return None
    return torch.from_numpy((scores - 1.0) / 3.5)


class SEMambaGeneratorLoss(nn.Module):
    """The weighted generator objective; `forward` returns (total, {term: value})."""

    def __init__(self, weights: dict | None = None, sample_rate: int = 16000):
        super().__init__()
        known = {**WEIGHTS, **EXTRA_WEIGHTS}
        unknown = set(weights or {}) - set(known)
        if unknown:
            raise ValueError(f"unknown SEMamba loss term(s) {sorted(unknown)}; known: {sorted(known)}")
        self.weights = {**known, **(weights or {})}
        self.stoi = STOILoss(sample_rate) if self.weights["stoi"] else None

    def forward(self, clean: dict, enhanced: dict, reanalysed_com: torch.Tensor, metric_score: torch.Tensor):
        """clean/enhanced: {"mag", "pha", "com", "audio"}; reanalysed_com: the complex spectrum
        of the enhanced waveform; metric_score: the discriminator's scores of the estimate."""
        terms = {
            "metric": F.mse_loss(metric_score.flatten(), torch.ones_like(metric_score.flatten())),
            "magnitude": F.mse_loss(enhanced["mag"], clean["mag"]),
            "phase": sum(phase_losses(clean["pha"], enhanced["pha"])),
            "complex": 2 * F.mse_loss(enhanced["com"], clean["com"]),
            "time": F.l1_loss(enhanced["audio"], clean["audio"]),
            "consistency": 2 * F.mse_loss(enhanced["com"], reanalysed_com),
        }
        if self.stoi is not None:
            terms["stoi"] = self.stoi(enhanced["audio"][:, None], clean["audio"][:, None])
        total = sum(self.weights[name] * value for name, value in terms.items())
        return total, terms
