"""Torch STFT helpers shared by spectral models and losses.

Waveforms are (..., time); spectra are complex (..., freq, frames). Windows are cached
per (length, device, dtype) so a training step does not rebuild them.
"""

from __future__ import annotations

import functools

import torch


@functools.lru_cache(maxsize=32)
def _hann(length: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    # Made outside inference mode even when first asked for inside it: an inference tensor
    # in the cache would break every later training step that uses it.
    with torch.inference_mode(False):
        return torch.hann_window(length, periodic=True, device=device, dtype=dtype)


def hann_window(length: int, like: torch.Tensor) -> torch.Tensor:
    """A periodic Hann window on the device and real dtype of `like`."""
    dtype = like.real.dtype if like.is_complex() else like.dtype
    return _hann(length, like.device, dtype)


def stft(x: torch.Tensor, n_fft: int, hop: int, win_length: int | None = None, center: bool = True) -> torch.Tensor:
    """Complex STFT of (..., time) with a Hann window; returns (..., n_fft // 2 + 1, frames)."""
    win_length = win_length or n_fft
    shape = x.shape
    spec = torch.stft(
        x.reshape(-1, shape[-1]),
        n_fft,
        hop_length=hop,
        win_length=win_length,
        window=hann_window(win_length, x),
        center=center,
        return_complex=True,
    )
    return spec.reshape(*shape[:-1], *spec.shape[-2:])


def istft(
    spec: torch.Tensor, n_fft: int, hop: int, length: int, win_length: int | None = None, center: bool = True
) -> torch.Tensor:
    """Inverse of `stft`, cut or padded to `length` samples; returns (..., length)."""
    win_length = win_length or n_fft
    shape = spec.shape
    wav = torch.istft(
        spec.reshape(-1, *shape[-2:]),
        n_fft,
        hop_length=hop,
        win_length=win_length,
        window=hann_window(win_length, spec),
        center=center,
        length=length,
    )
    return wav.reshape(*shape[:-2], length)
