"""1 - STOI as a loss (Taal et al. 2011), so that training sees what STOI measures.

Waveform and spectral losses let a small model trade intelligibility for SNR: suppressing
a weak consonant in noise lowers L1 but decorrelates the band envelope STOI compares. This
loss is STOI itself, made differentiable: the same 10 kHz analysis, 1/3-octave bands
(pystoi's band matrix), 384 ms segments, -15 dB clipping and correlation, and the same
removal of frames 40 dB below the reference's loudest. Two steps differ from pystoi, so
values agree to about 0.01, not exactly: silent frames are dropped from the STFT frames
rather than from a signal overlap-added again, and pystoi skips the last frame when the
hop divides the length. The resampler is pystoi's own filter, run as a polyphase convolution.
"""

from __future__ import annotations

from fractions import Fraction

import torch
from pystoi.stoi import BETA, DYN_RANGE, FS, MINFREQ, N_FRAME, NFFT, NUMBAND, N
from pystoi.utils import _resample_window_oct, thirdoct
from torch import nn

from sepflow.errors import SepflowError

HOP = N_FRAME // 2
EPS = 1e-8


def octave_resampling_filter(sr_in: int, sr_out: int) -> tuple[int, int, torch.Tensor]:
    """(up, down, taps): pystoi's Octave-compatible anti-aliasing filter, normalised as its
    resample_oct does, so that the loss hears the signal STOI hears."""
    ratio = Fraction(sr_out, sr_in)
    taps = _resample_window_oct(ratio.numerator, ratio.denominator)
    return ratio.numerator, ratio.denominator, torch.as_tensor(taps / taps.sum() * ratio.numerator, dtype=torch.float32)


def polyphase_resample(audio: torch.Tensor, up: int, down: int, taps: torch.Tensor) -> torch.Tensor:
    """scipy.signal.resample_poly(audio, up, down, window=taps) along the last axis of (items,
    time), differentiable. Output m is sum_s taps[s*up + c_r] * audio[k*down + s] with
    m = r + up*k and c_r = half - r*down: one strided convolution per phase r."""
    half = (len(taps) - 1) // 2
    offsets = [half - r * down for r in range(up)]
    first = [-(offset // up) for offset in offsets]  # ceil(-offset / up)
    last = [(2 * half - offset) // up for offset in offsets]
    lo, hi = min(first), max(last)
    kernels = torch.zeros(up, hi - lo + 1, dtype=audio.dtype, device=audio.device)
    for r, offset in enumerate(offsets):
        s = torch.arange(first[r], last[r] + 1)
        kernels[r, s - lo] = taps.to(audio)[s * up + offset]
    length = audio.shape[-1]
    out_length = -(-length * up // down)
    blocks = -(-out_length // up)
    right = max(0, (blocks - 1) * down + hi + 1 - length)
    padded = nn.functional.pad(audio[:, None], (-lo, right))  # lo <= 0: the centre tap needs no future
    phases = nn.functional.conv1d(padded, kernels[:, None], stride=down)[..., :blocks]
    return phases.transpose(1, 2).reshape(audio.shape[0], -1)[:, :out_length]


def _norm(x: torch.Tensor) -> torch.Tensor:
    """L2 norm over the last axis, smooth at zero (a silent segment keeps a finite gradient)."""
    return torch.sqrt(x.square().sum(-1, keepdim=True) + EPS)


class STOILoss(nn.Module):
    """1 - STOI of (batch, channels, time) estimates against references, averaged over items:
    zero for a perfect estimate, like the other losses.

    Items whose reference has fewer than 30 frames within 40 dB of its loudest (pystoi returns
    a warning value there) do not count; a batch with none of them gives zero.
    """

    def __init__(self, sample_rate: int):
        super().__init__()
        self.sample_rate = sample_rate
        bands, _ = thirdoct(FS, NFFT, NUMBAND, MINFREQ)
        self.register_buffer("bands", torch.as_tensor(bands, dtype=torch.float32).T, persistent=False)
        self.register_buffer("window", torch.hann_window(N_FRAME + 2, periodic=False)[1:-1], persistent=False)
        self.min_samples = -(-((N - 1) * HOP + N_FRAME) * sample_rate // FS)
        self.up, self.down, taps = octave_resampling_filter(sample_rate, FS)
        self.register_buffer("taps", taps, persistent=False)

    def forward(self, estimate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if target.shape[-1] < self.min_samples:
            raise SepflowError(
                f"the STOI loss needs segments of at least {self.min_samples} samples (30 frames of "
                f"25.6 ms), got {target.shape[-1]}; raise the training segment length"
            )
        x = self._frames(target)
        y = self._frames(estimate)
        energy = 20 * torch.log10(torch.linalg.vector_norm(x, dim=-1) + EPS)
        kept = energy > energy.amax(dim=1, keepdim=True) - DYN_RANGE
        # Kept frames first, in their order: the segments run over speech frames only.
        order = torch.argsort((~kept).to(torch.int8), dim=1, stable=True)
        x, y = (frames.gather(1, order[..., None].expand_as(frames)) for frames in (x, y))
        x_bands, y_bands = (self._band_envelopes(frames).unfold(1, N, 1) for frames in (x, y))
        segments = torch.arange(x_bands.shape[1], device=x.device)
        valid = (segments[None] + N <= kept.sum(1, keepdim=True)).to(x.dtype)  # (items, segments)
        y_scaled = y_bands * (_norm(x_bands) / _norm(y_bands))
        y_clipped = torch.minimum(y_scaled, x_bands * (1 + 10 ** (-BETA / 20)))
        y_centred = y_clipped - y_clipped.mean(-1, keepdim=True)
        x_centred = x_bands - x_bands.mean(-1, keepdim=True)
        correlation = (y_centred / _norm(y_centred) * x_centred / _norm(x_centred)).sum(-1).mean(-1)
        counted = valid.sum(1)
        per_item = (correlation * valid).sum(1) / counted.clamp(min=1)
        scored = counted > 0
        if not scored.any():
            return estimate.sum() * 0.0
        return 1 - per_item[scored].mean()

    def _frames(self, audio: torch.Tensor) -> torch.Tensor:
        """(items, frames, N_FRAME) windowed frames at 10 kHz, channels as separate items."""
        audio = audio.reshape(-1, audio.shape[-1])
        if self.sample_rate != FS:
            audio = polyphase_resample(audio, self.up, self.down, self.taps)
        return audio.unfold(-1, N_FRAME, HOP) * self.window

    def _band_envelopes(self, frames: torch.Tensor) -> torch.Tensor:
        """(items, frames, bands) 1/3-octave band magnitudes."""
        spectrum = torch.fft.rfft(frames, n=NFFT)
        power = spectrum.real.square() + spectrum.imag.square()
        return torch.sqrt(power @ self.bands + EPS)
