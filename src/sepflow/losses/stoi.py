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


class OctaveResampler(nn.Module):
    """pystoi's resample_oct (scipy's resample_poly with an Octave-compatible Kaiser filter),
    differentiable, so that the loss hears the signal STOI hears. Output m = r + up*k is
    sum_s taps[s*up + half - r*down] * audio[k*down + s]: the filter is split once into `up`
    phase kernels, and one strided convolution runs them all."""

    def __init__(self, sr_in: int, sr_out: int):
        super().__init__()
        ratio = Fraction(sr_out, sr_in)
        self.up, self.down = ratio.numerator, ratio.denominator
        taps = _resample_window_oct(self.up, self.down)
        taps = taps / taps.sum() * self.up
        half = (len(taps) - 1) // 2
        offsets = [half - r * self.down for r in range(self.up)]
        first = [-(offset // self.up) for offset in offsets]  # ceil(-offset / up)
        last = [(2 * half - offset) // self.up for offset in offsets]
        self.lo, self.hi = min(first), max(last)  # lo <= 0: the centre tap needs no future
        kernels = torch.zeros(self.up, 1, self.hi - self.lo + 1)
        for r, offset in enumerate(offsets):
            s = torch.arange(first[r], last[r] + 1)
            kernels[r, 0, s - self.lo] = torch.as_tensor(taps[(s * self.up + offset).numpy()], dtype=torch.float32)
        self.register_buffer("kernels", kernels, persistent=False)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """(items, time) -> (items, ceil(time * up / down))."""
        length = audio.shape[-1]
        out_length = -(-length * self.up // self.down)
        blocks = -(-out_length // self.up)
        right = max(0, (blocks - 1) * self.down + self.hi + 1 - length)
        padded = nn.functional.pad(audio[:, None], (-self.lo, right))
        phases = nn.functional.conv1d(padded, self.kernels, stride=self.down)[..., :blocks]
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
        bands, _ = thirdoct(FS, NFFT, NUMBAND, MINFREQ)
        self.register_buffer("bands", torch.as_tensor(bands, dtype=torch.float32).T, persistent=False)
        self.register_buffer("window", torch.hann_window(N_FRAME + 2, periodic=False)[1:-1], persistent=False)
        self.min_samples = -(-((N - 1) * HOP + N_FRAME) * sample_rate // FS)
        self.resample = OctaveResampler(sample_rate, FS) if sample_rate != FS else nn.Identity()

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
        audio = self.resample(audio.reshape(-1, audio.shape[-1]))
        return audio.unfold(-1, N_FRAME, HOP) * self.window

    def _band_envelopes(self, frames: torch.Tensor) -> torch.Tensor:
        """(items, frames, bands) 1/3-octave band magnitudes."""
        spectrum = torch.fft.rfft(frames, n=NFFT)
        power = spectrum.real.square() + spectrum.imag.square()
        return torch.sqrt(power @ self.bands + EPS)
