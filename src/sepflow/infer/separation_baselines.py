"""Music separation baselines that need no training: the floor and the ceiling of a table.

The mixture baseline returns the mixture as every stem (what doing nothing scores). The
oracle ideal ratio mask (IRM) knows the true stems: in the STFT domain each stem gets the
mask |S_j| / sum_k |S_k| (magnitude ratio, Liutkus & Badeau's "IRM1" as in sigsep's
oracle baselines), applied to the mixture's STFT per channel and inverted, which bounds
what a mask-based separator at that resolution can reach.
"""

from __future__ import annotations

import numpy as np
import torch


def mixture_baseline(mixture: np.ndarray, n_sources: int) -> np.ndarray:
    """(channels, time) mixture -> (sources, channels, time), every stem the mixture."""
    mixture = np.asarray(mixture, dtype=np.float32)
    return np.repeat(mixture[None], n_sources, axis=0)


def oracle_irm(mixture: np.ndarray, stems: np.ndarray, n_fft: int = 4096, hop: int = 1024) -> np.ndarray:
    """Ideal ratio mask estimates (sources, channels, time) of the mixture's length.

    mixture (channels, time); stems (sources, channels, time), the true stems.
    """
    mix = torch.as_tensor(np.asarray(mixture, dtype=np.float32))
    true = torch.as_tensor(np.asarray(stems, dtype=np.float32))
    if true.dim() != 3 or true.shape[1:] != mix.shape:
        raise ValueError(f"stems {tuple(true.shape)} must be (sources, *mixture shape {tuple(mix.shape)})")
    length = mix.shape[-1]
    window = torch.hann_window(n_fft)

    def stft(x: torch.Tensor) -> torch.Tensor:
        return torch.stft(x, n_fft, hop, window=window, pad_mode="constant", return_complex=True)

    mix_spec = stft(mix)  # (channels, freq, frames)
    magnitudes = stft(true.reshape(-1, length)).abs().reshape(*true.shape[:2], *mix_spec.shape[1:])
    masks = magnitudes / magnitudes.sum(dim=0).clamp_min(1e-10)
    estimates = torch.istft(
        (masks * mix_spec).reshape(-1, *mix_spec.shape[1:]), n_fft, hop, window=window, length=length
    )
    return estimates.reshape(true.shape).numpy()
