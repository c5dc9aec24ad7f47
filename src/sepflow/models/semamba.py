"""SEMamba (Chao et al. 2024): magnitude and phase enhancement with time-frequency Mamba.

State-dict compatible with the official generator (RoyChao19477/SEMamba, `models/`): an
official checkpoint's `['generator']` loads strictly at the default arguments (2,258,769
parameters, 265 keys). The network works on the compressed magnitude |X|^0.3 and the phase
of an STFT (n_fft 400, hop 100, Hann, centred): a dense encoder halves the frequency axis,
TF-Mamba blocks run bidirectional Mamba over time and then over frequency, a magnitude
decoder predicts a bounded mask (learnable sigmoid) on the noisy magnitude, and a phase
decoder predicts the phase through atan2 of two heads.

The sepflow contract is a waveform in and out: `forward` scales the input to unit RMS (as
the official data loader and inference do), enhances, and undoes the scaling. The losses
use `analysis`, `enhance_spectra` and `synthesis` directly.
"""

from __future__ import annotations

import torch
from torch import nn

from sepflow.audio.stft import istft, stft
from sepflow.models.mamba import MambaLayer


def _same_padding(kernel: tuple[int, int], dilation: tuple[int, int]) -> tuple[int, int]:
    return tuple((k - 1) * d // 2 for k, d in zip(kernel, dilation))


def _norm_act(channels: int) -> list[nn.Module]:
    return [nn.InstanceNorm2d(channels, affine=True), nn.PReLU(channels)]


class DenseBlock(nn.Module):
    """Densely connected (3, 3) convolutions dilated 1, 2, 4, 8 along time."""

    def __init__(self, features: int, depth: int = 4, kernel: tuple[int, int] = (3, 3)):
        super().__init__()
        self.dense_block = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(
                    features * (i + 1), features, kernel, dilation=(2**i, 1), padding=_same_padding(kernel, (2**i, 1))
                ),
                *_norm_act(features),
            )
            for i in range(depth)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = x
        for conv in self.dense_block:
            x = conv(skip)
            skip = torch.cat([x, skip], dim=1)
        return x


class DenseEncoder(nn.Module):
    """(batch, 2, frames, freq) -> (batch, features, frames, (freq - 1) // 2)."""

    def __init__(self, features: int, in_channels: int = 2):
        super().__init__()
        self.dense_conv_1 = nn.Sequential(nn.Conv2d(in_channels, features, (1, 1)), *_norm_act(features))
        self.dense_block = DenseBlock(features)
        self.dense_conv_2 = nn.Sequential(nn.Conv2d(features, features, (1, 3), stride=(1, 2)), *_norm_act(features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dense_conv_2(self.dense_block(self.dense_conv_1(x)))


class LearnableSigmoid(nn.Module):
    """beta * sigmoid(slope * x), one slope per row (frequency bin, or a single feature)."""

    def __init__(self, shape: tuple[int, ...], beta: float):
        super().__init__()
        self.beta = beta
        self.slope = nn.Parameter(torch.ones(shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.beta * torch.sigmoid(self.slope * x)


class MagDecoder(nn.Module):
    """A mask in [0, beta] per time-frequency bin, (batch, 1, frames, n_fft // 2 + 1)."""

    def __init__(self, features: int, n_fft: int, beta: float):
        super().__init__()
        self.dense_block = DenseBlock(features)
        self.mask_conv = nn.Sequential(
            nn.ConvTranspose2d(features, features, (1, 3), stride=(1, 2)),
            nn.Conv2d(features, 1, (1, 1)),
            *_norm_act(1),
            nn.Conv2d(1, 1, (1, 1)),
        )
        self.lsigmoid = LearnableSigmoid((n_fft // 2 + 1, 1), beta)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.mask_conv(self.dense_block(x))  # (b, 1, t, f)
        return self.lsigmoid(x[:, 0].transpose(1, 2)).transpose(1, 2).unsqueeze(1)


class PhaseDecoder(nn.Module):
    """The phase, atan2 of an "imaginary" and a "real" head, (batch, 1, frames, freq)."""

    def __init__(self, features: int):
        super().__init__()
        self.dense_block = DenseBlock(features)
        self.phase_conv = nn.Sequential(
            nn.ConvTranspose2d(features, features, (1, 3), stride=(1, 2)), *_norm_act(features)
        )
        self.phase_conv_r = nn.Conv2d(features, 1, (1, 1))
        self.phase_conv_i = nn.Conv2d(features, 1, (1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.phase_conv(self.dense_block(x))
        return torch.atan2(self.phase_conv_i(x), self.phase_conv_r(x))


class BiMamba(nn.Module):
    """Forward and backward Mamba (separate weights) over dim 1, concatenated on features."""

    def __init__(self, features: int, **mamba_args):
        super().__init__()
        self.forward_blocks = nn.ModuleList([MambaLayer(features, **mamba_args)])
        self.backward_blocks = nn.ModuleList([MambaLayer(features, **mamba_args)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y_forward, y_backward = x, x.flip(1)
        for layer in self.forward_blocks:
            y_forward = layer(y_forward)
        for layer in self.backward_blocks:
            y_backward = layer(y_backward)
        return torch.cat([y_forward, y_backward.flip(1)], dim=-1)


class TFMambaBlock(nn.Module):
    """Bidirectional Mamba along time, then along frequency, each projected back and residual."""

    def __init__(self, features: int, **mamba_args):
        super().__init__()
        self.time_mamba = BiMamba(features, **mamba_args)
        self.freq_mamba = BiMamba(features, **mamba_args)
        self.tlinear = nn.ConvTranspose1d(features * 2, features, 1)
        self.flinear = nn.ConvTranspose1d(features * 2, features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, t, f = x.shape
        x = x.permute(0, 3, 2, 1).reshape(b * f, t, c)
        x = self.tlinear(self.time_mamba(x).transpose(1, 2)).transpose(1, 2) + x
        x = x.reshape(b, f, t, c).transpose(1, 2).reshape(b * t, f, c)
        x = self.flinear(self.freq_mamba(x).transpose(1, 2)).transpose(1, 2) + x
        return x.reshape(b, t, f, c).permute(0, 3, 1, 2)


class SEMamba(nn.Module):
    """SEMamba generator; the defaults are the official SEMamba_advanced configuration."""

    def __init__(
        self,
        n_fft: int = 400,
        hop: int = 100,
        compress: float = 0.3,
        features: int = 64,
        blocks: int = 4,
        d_state: int = 16,
        d_conv: int = 4,
        expand: int = 4,
        beta: float = 2.0,
        norm_eps: float = 1e-5,
    ):
        super().__init__()
        self.n_fft, self.hop, self.compress = n_fft, hop, compress
        self.dense_encoder = DenseEncoder(features)
        self.TSMamba = nn.ModuleList(
            TFMambaBlock(features, d_state=d_state, d_conv=d_conv, expand=expand, eps=norm_eps) for _ in range(blocks)
        )
        self.mask_decoder = MagDecoder(features, n_fft, beta)
        self.phase_decoder = PhaseDecoder(features)

    def analysis(self, wave: torch.Tensor, eps: float | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(..., time) -> compressed magnitude, phase (..., freq, frames) and the compressed
        complex spectrum (..., freq, frames, 2). With `eps`, the official loss variant:
        sqrt(re^2 + im^2 + eps) and atan2(im + eps, re + eps), differentiable at zero."""
        spec = stft(wave, self.n_fft, self.hop)
        if eps is None:
            mag, pha = spec.abs(), spec.angle()
        else:
            mag = torch.sqrt(spec.real**2 + spec.imag**2 + eps)
            pha = torch.atan2(spec.imag + eps, spec.real + eps)
        mag = mag**self.compress
        return mag, pha, torch.stack((mag * torch.cos(pha), mag * torch.sin(pha)), dim=-1)

    def synthesis(self, mag: torch.Tensor, pha: torch.Tensor, length: int) -> torch.Tensor:
        """Inverse of `analysis`: compressed magnitude and phase -> (..., length)."""
        mag = mag ** (1.0 / self.compress)
        return istft(torch.polar(mag, pha), self.n_fft, self.hop, length)

    def enhance_spectra(self, mag: torch.Tensor, pha: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The official generator's forward: noisy (batch, freq, frames) magnitude and phase
        -> enhanced magnitude, phase and compressed complex spectrum (batch, freq, frames, 2)."""
        noisy_mag = mag.transpose(1, 2).unsqueeze(1)  # (b, 1, t, f)
        x = torch.cat([noisy_mag, pha.transpose(1, 2).unsqueeze(1)], dim=1)
        x = self.dense_encoder(x)
        for block in self.TSMamba:
            x = block(x)
        mag = (self.mask_decoder(x) * noisy_mag)[:, 0].transpose(1, 2)
        pha = self.phase_decoder(x)[:, 0].transpose(1, 2)
        return mag, pha, torch.stack((mag * torch.cos(pha), mag * torch.sin(pha)), dim=-1)

    @staticmethod
    def unit_rms_gain(wave: torch.Tensor) -> torch.Tensor:
        """The official input scaling, sqrt(time / sum(x^2)) per item, shaped (batch, 1, 1)."""
        power = wave.pow(2).mean(dim=(-2, -1), keepdim=True)
        return torch.rsqrt(power.clamp_min(1e-10))

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        """(batch, 1, time) -> (batch, 1, time), at the input's level."""
        gain = self.unit_rms_gain(wave)
        mag, pha, _ = self.analysis(wave[:, 0] * gain[:, 0])
        mag, pha, _ = self.enhance_spectra(mag, pha)
        return self.synthesis(mag, pha, wave.shape[-1]).unsqueeze(1) / gain
