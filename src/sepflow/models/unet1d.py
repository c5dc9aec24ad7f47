"""unet1d: a light waveform U-Net that separates music into masked stems.

The encoder has `depth` levels; level i convolves to hidden * growth**i channels with a
strided convolution (kernel `kernel_size`, stride `stride`) and a kernel-3 convolution.
Each decoder level concatenates the matching encoder features, convolves, and undoes the
striding with a transposed convolution. Strided and transposed convolutions do not
round-trip every length exactly, so each decoder output is cropped or zero-padded to the
length of the encoder level it returns to: any input length comes back unchanged. A 1x1
head gives one sigmoid mask per source and channel, multiplied with the mixture.

Mono by default, as in the source document: a stereo mixture is averaged to mono for the
network, and each source's mono mask is applied to every input channel, so the stems keep
the input's channels. `channels=2` makes a stereo model with one mask per channel. The
input is divided by its standard deviation inside the network, so masks do not depend on
the mixture's level.

Configs: the default (hidden 16, depth 5, stride 4) is sized for the CPU demo (1,026,980
parameters for 4 sources, mono); the reference config for MUSDB18 is hidden 32, depth 6,
stride 4 (16,397,076 parameters), a receptive field of several seconds at 44.1 kHz.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

MUSIC_SOURCES = ("vocals", "drums", "bass", "other")


def fit_length(x: torch.Tensor, length: int) -> torch.Tensor:
    """Crop or zero-pad the last dimension of x to `length` samples."""
    extra = length - x.shape[-1]
    return F.pad(x, (0, extra)) if extra > 0 else x[..., :length]


class Encoder(nn.Sequential):
    """Strided conv (downsampling by `stride`) then a kernel-3 conv, each with GELU."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int):
        super().__init__(
            nn.Conv1d(in_channels, out_channels, kernel_size, stride, padding=kernel_size // 2),
            nn.GELU(),
            nn.Conv1d(out_channels, out_channels, 3, padding=1),
            nn.GELU(),
        )


class Decoder(nn.Module):
    """Skip concat, a kernel-3 conv, then a transposed conv (upsampling by `stride`)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int):
        super().__init__()
        self.merge = nn.Conv1d(2 * in_channels, in_channels, 3, padding=1)
        self.up = nn.ConvTranspose1d(in_channels, out_channels, kernel_size, stride, padding=(kernel_size - stride) // 2)

    def forward(self, x: torch.Tensor, skip: torch.Tensor, length: int) -> torch.Tensor:
        x = F.gelu(self.merge(torch.cat([x, skip], dim=1)))
        return F.gelu(fit_length(self.up(x), length))


class UNet1D(nn.Module):
    """Mixture (batch, channels, time) in; stems (batch, sources, channels, time) out."""

    def __init__(
        self,
        sources: tuple[str, ...] | list[str] = MUSIC_SOURCES,
        channels: int = 1,
        hidden: int = 16,
        depth: int = 5,
        growth: int = 2,
        kernel_size: int = 8,
        stride: int = 4,
        sample_rate: int = 44100,
    ):
        super().__init__()
        if channels not in (1, 2):
            raise ValueError(f"unet1d channels must be 1 (mono, stereo averaged) or 2 (stereo), got {channels}")
        if kernel_size < stride or (kernel_size - stride) % 2:
            raise ValueError(f"unet1d kernel_size must be >= stride with an even difference, got {kernel_size} and {stride}")
        self.sources = tuple(sources)
        self.channels = channels
        self.sample_rate = sample_rate
        widths = [channels] + [hidden * growth**i for i in range(depth)]
        self.encoders = nn.ModuleList(Encoder(widths[i], widths[i + 1], kernel_size, stride) for i in range(depth))
        # The outermost decoder returns to `hidden` channels rather than the input's.
        outs = [hidden] + widths[1:depth]
        self.decoders = nn.ModuleList(Decoder(widths[i + 1], outs[i], kernel_size, stride) for i in reversed(range(depth)))
        self.head = nn.Conv1d(hidden + channels, len(self.sources) * channels, 1)

    def forward(self, mixture: torch.Tensor) -> torch.Tensor:
        if mixture.dim() != 3:
            raise ValueError(f"unet1d expects (batch, channels, time), got shape {tuple(mixture.shape)}")
        batch, in_channels, length = mixture.shape
        if self.channels == 2 and in_channels != 2:
            raise ValueError(f"a stereo unet1d (channels=2) needs stereo input, got {in_channels} channel(s)")
        x = mixture.mean(dim=1, keepdim=True) if self.channels == 1 else mixture
        x = x / (x.std(dim=(1, 2), keepdim=True, correction=0) + 1e-8)
        h, skips, lengths = x, [], []
        for encoder in self.encoders:
            lengths.append(h.shape[-1])
            h = encoder(h)
            skips.append(h)
        for decoder, skip, size in zip(self.decoders, reversed(skips), reversed(lengths)):
            h = decoder(h, skip, size)
        masks = torch.sigmoid(self.head(torch.cat([h, x], dim=1)))
        masks = masks.view(batch, len(self.sources), self.channels, length)
        return masks * mixture.unsqueeze(1)
