"""gatewave: the project's own gated-convolution waveform U-Net.

Every convolution produces twice the channels it keeps: a GLU lets one half gate the other,
so each layer learns where to pass signal and where to suppress noise. An encoder level
is a strided gated conv (downsampling by `stride`) and a 3-tap gated conv; a 3-tap gated
bottleneck follows; a decoder level adds the matching encoder output (skip), applies a
3-tap gated conv and a gated transposed conv back up. The last transposed conv is linear
and gives the waveform. The input is scaled to unit standard deviation and the output
scaled back, so quiet and loud recordings look alike to the network. The default config
has 705,793 parameters.
"""

from __future__ import annotations

import torch
from torch import nn

from sepflow.models.blocks import as_mono_batch, pad_to_multiple


class GatedConv(nn.Module):
    """Conv (or transposed conv) to 2 * out_channels followed by a GLU over channels."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, transpose: bool = False):
        super().__init__()
        conv = nn.ConvTranspose1d if transpose else nn.Conv1d
        self.conv = conv(in_channels, 2 * out_channels, kernel_size, stride=stride, padding=(kernel_size - stride) // 2)
        self.gate = nn.GLU(dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gate(self.conv(x))


class GateWave(nn.Module):
    """Gated waveform U-Net; (batch, 1, time) noisy in, (batch, 1, time) enhanced out."""

    def __init__(
        self,
        sample_rate: int = 16000,
        hidden: int = 16,
        depth: int = 4,
        growth: int = 2,
        kernel_size: int = 8,
        stride: int = 4,
        normalize: bool = True,
        floor: float = 1e-3,
    ):
        super().__init__()
        if kernel_size < stride or (kernel_size - stride) % 2:
            raise ValueError("gatewave needs kernel_size >= stride with an even difference, so lengths divide exactly")
        self.sample_rate = sample_rate
        self.depth = depth
        self.stride = stride
        self.normalize = normalize
        self.floor = floor
        widths = [1] + [hidden * growth**level for level in range(depth)]
        self.encoders = nn.ModuleList(
            nn.Sequential(
                GatedConv(widths[i], widths[i + 1], kernel_size, stride),
                GatedConv(widths[i + 1], widths[i + 1], 3, 1),
            )
            for i in range(depth)
        )
        self.bottleneck = GatedConv(widths[-1], widths[-1], 3, 1)
        self.decoders = nn.ModuleList()
        for i in reversed(range(depth)):
            up = (
                GatedConv(widths[i + 1], widths[i], kernel_size, stride, transpose=True)
                if i > 0
                else nn.ConvTranspose1d(widths[1], 1, kernel_size, stride=stride, padding=(kernel_size - stride) // 2)
            )
            self.decoders.append(nn.Sequential(GatedConv(widths[i + 1], widths[i + 1], 3, 1), up))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = as_mono_batch(x)
        length = x.shape[-1]
        scale = x.std(dim=-1, keepdim=True, correction=0) + self.floor if self.normalize else 1.0
        h = pad_to_multiple(x / scale, self.stride**self.depth)
        skips = []
        for encoder in self.encoders:
            h = encoder(h)
            skips.append(h)
        h = self.bottleneck(h)
        for decoder in self.decoders:
            h = decoder(h + skips.pop())
        return h[..., :length] * scale
