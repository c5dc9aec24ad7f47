"""Exact 2x up/down-sampling with a windowed sinc, as Demucs runs its inner network at 4x.

The kernel follows Smith & Gossett, "A flexible sampling-rate conversion method" (ICASSP
1984), with the same window and width as facebookresearch/denoiser, so checkpoints trained
there see the same signal here. The streaming Demucs reuses `sinc_kernel` to resample chunk
by chunk with the same numbers.
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

ZEROS = 56
"""Zero crossings of the sinc on each side: the filter spans 2 * ZEROS input samples."""


def sinc_kernel(zeros: int = ZEROS, like: torch.Tensor | None = None) -> torch.Tensor:
    """Half-sample interpolation filter, shape (1, 1, 2 * zeros), on `like`'s device/dtype."""
    window = torch.hann_window(4 * zeros + 1, periodic=False)[1::2]
    # Half-sample offsets: t is never 0, so sin(t) / t needs no special case.
    t = torch.linspace(-zeros + 0.5, zeros - 0.5, 2 * zeros) * math.pi
    kernel = (torch.sin(t) / t * window).view(1, 1, -1)
    return kernel if like is None else kernel.to(like)


def upsample2(x: torch.Tensor, zeros: int = ZEROS) -> torch.Tensor:
    """Double the rate of (..., time): keep the samples, interpolate the half-way points.

    The half-way point after sample n uses samples n - zeros + 1 .. n + zeros, zero outside.
    """
    *other, time = x.shape
    flat = x.reshape(-1, 1, time)
    halves = F.conv1d(flat, sinc_kernel(zeros, x), padding=zeros)[..., 1:]
    return torch.stack([flat, halves], dim=-1).reshape(*other, 2 * time)


def downsample2(x: torch.Tensor, zeros: int = ZEROS) -> torch.Tensor:
    """Halve the rate of (..., time): average even samples with the odd ones interpolated.

    An odd length is padded with one zero. Output n uses odd samples n - zeros .. n + zeros - 1.
    """
    if x.shape[-1] % 2:
        x = F.pad(x, (0, 1))
    even, odd = x[..., ::2], x[..., 1::2]
    *other, time = odd.shape
    halves = F.conv1d(odd.reshape(-1, 1, time), sinc_kernel(zeros, x), padding=zeros)[..., :-1]
    return 0.5 * (even + halves.reshape(*other, time))
