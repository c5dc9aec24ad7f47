"""spec_unet: a 2D U-Net that maps the noisy magnitude spectrogram to the clean one.

The network sees |STFT| of the noisy waveform as a 1-channel image (freq, frames) and
predicts the clean magnitude directly through a linear 1x1 output layer (a mapping, not a
mask). The prediction is ReLU'd only when the waveform is rebuilt, with the noisy phase.
Reference config (32 base filters doubling per level, depth 3, batch norm, dropout 0.1):
1,927,841 parameters.
"""

from __future__ import annotations

import torch
from torch import nn

from sepflow.audio.stft import istft, stft
from sepflow.models.blocks import as_mono_batch, pad_to_multiple


class DoubleConv(nn.Sequential):
    """Two 3x3 conv + batch norm + ReLU layers, then dropout."""

    def __init__(self, in_channels: int, out_channels: int, dropout: float):
        super().__init__(
            nn.Conv2d(in_channels, out_channels, 3, padding=1),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Dropout2d(dropout),
        )


class SpecUNet(nn.Module):
    """Magnitude-spectrogram U-Net; waveform in, waveform of the same length out."""

    def __init__(
        self,
        sample_rate: int = 16000,
        n_fft: int = 512,
        hop: int = 128,
        base_filters: int = 32,
        depth: int = 3,
        dropout: float = 0.1,
    ):
        super().__init__()
        self.sample_rate = sample_rate
        self.n_fft = n_fft
        self.hop = hop
        self.depth = depth
        widths = [base_filters * 2**level for level in range(depth + 1)]
        self.encoders = nn.ModuleList()
        in_channels = 1
        for width in widths[:-1]:
            self.encoders.append(DoubleConv(in_channels, width, dropout))
            in_channels = width
        self.pool = nn.MaxPool2d(2)
        self.bottleneck = DoubleConv(widths[-2], widths[-1], dropout)
        self.upsamplers = nn.ModuleList()
        self.decoders = nn.ModuleList()
        for deep, shallow in zip(widths[:0:-1], widths[-2::-1]):
            self.upsamplers.append(nn.ConvTranspose2d(deep, shallow, 2, stride=2))
            self.decoders.append(DoubleConv(2 * shallow, shallow, dropout))
        self.output = nn.Conv2d(widths[0], 1, 1)

    def enhance_magnitude(self, magnitude: torch.Tensor) -> torch.Tensor:
        """(batch, 1, freq, frames) noisy magnitude -> predicted clean magnitude (linear, may be negative)."""
        freq, frames = magnitude.shape[-2:]
        multiple = 2**self.depth
        h = pad_to_multiple(pad_to_multiple(magnitude, multiple, dim=-2), multiple, dim=-1)
        skips = []
        for encoder in self.encoders:
            h = encoder(h)
            skips.append(h)
            h = self.pool(h)
        h = self.bottleneck(h)
        for upsample, decoder, skip in zip(self.upsamplers, self.decoders, reversed(skips)):
            h = decoder(torch.cat([upsample(h), skip], dim=1))
        return self.output(h)[..., :freq, :frames]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = as_mono_batch(x)
        length = x.shape[-1]
        # torch.stft's reflect padding needs more than n_fft // 2 samples.
        padded = pad_to_multiple(x, 1, minimum=self.n_fft)
        spec = stft(padded, self.n_fft, self.hop)
        magnitude = self.enhance_magnitude(spec.abs()).relu()
        enhanced = torch.polar(magnitude, spec.angle())
        return istft(enhanced, self.n_fft, self.hop, padded.shape[-1])[..., :length]
