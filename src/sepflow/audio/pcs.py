"""PCS400, perceptual contrast stretching (Chao et al. 2022) as SEMamba applies it.

Each STFT bin's log-magnitude log1p(|X|) is multiplied by a fixed exponent that follows
the band importance of speech intelligibility (1 at the lowest bins, 1.4 from bin 10 to
109, lower again towards 8 kHz); the noisy phase is kept and the result is peak-normalised.
It sharpens an enhanced signal (an inference option) or the clean training targets.

Framing follows the official `models/pcs400.py` (librosa): the signal is padded with
n_fft // 2 zeros at its end, analysed with a symmetric Hamming window of 400 samples, hop
100, centred with zero padding, and resynthesised to its own length.
"""

from __future__ import annotations

import torch

N_FFT, HOP = 400, 100
PCS_RATE = 16000
"""The bands above are 16 kHz STFT bins: PCS400 is defined at that rate only."""

# (first bin, last bin + 1, exponent), from the official PCS400 table.
BANDS = (
    (0, 3, 1.0),
    (3, 5, 1.070175439),
    (5, 8, 1.182456140),
    (8, 10, 1.287719298),
    (10, 110, 1.4),
    (110, 130, 1.322807018),
    (130, 160, 1.238596491),
    (160, 190, 1.161403509),
    (190, 201, 1.077192982),
)


def pcs400_exponents(dtype: torch.dtype = torch.float32, device=None) -> torch.Tensor:
    """The per-bin exponents, (201,)."""
    exponents = torch.ones(N_FFT // 2 + 1, dtype=dtype, device=device)
    for start, stop, value in BANDS:
        exponents[start:stop] = value
    return exponents


def pcs400(wave: torch.Tensor) -> torch.Tensor:
    """Contrast-stretch (..., time) waveforms; each comes back peak-normalised to 1."""
    shape, length = wave.shape, wave.shape[-1]
    x = torch.nn.functional.pad(wave.reshape(-1, length), (0, N_FFT // 2))
    window = torch.hamming_window(N_FFT, periodic=False, dtype=x.dtype, device=x.device)
    spec = torch.stft(x, N_FFT, HOP, window=window, center=True, pad_mode="constant", return_complex=True)
    exponents = pcs400_exponents(x.dtype, x.device)[:, None]
    mag = torch.expm1(exponents * torch.log1p(spec.abs()))
    out = torch.istft(torch.polar(mag, spec.angle()), N_FFT, HOP, window=window, center=True, length=length)
    out = out / out.abs().amax(dim=-1, keepdim=True).clamp_min(torch.finfo(out.dtype).tiny)
    return out.reshape(shape)
