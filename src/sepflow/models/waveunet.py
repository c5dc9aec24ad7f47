"""waveunet: the Wave-U-Net as adapted for speech enhancement (Macartney & Weyde, 2018).

Level i (1..layers) of the encoder convolves to i * extra_filters channels (kernel 15) and
keeps every other sample (decimation by 2). After a bottleneck conv, each decoder level
doubles the time resolution by linear interpolation, concatenates the matching encoder
features and convolves (kernel 5). A final 1x1 conv over the decoder output concatenated
with the input gives the enhanced waveform, with no tanh, so the output is not bounded.
Convolutions are zero-padded ("same") and the input is padded to a multiple of
2**layers, so any input length comes back unchanged. The paper's config (12 layers, 24
extra filters per layer) has 10,263,002 parameters.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from sepflow.models.blocks import as_mono_batch, pad_to_multiple


class ConvAct(nn.Sequential):
    """Same-padded 1D conv followed by LeakyReLU, the Wave-U-Net's only layer type."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int):
        super().__init__(
            nn.Conv1d(in_channels, out_channels, kernel_size, padding=kernel_size // 2),
            nn.LeakyReLU(0.2),
        )


class WaveUNet(nn.Module):
    """Waveform U-Net; (batch, 1, time) noisy in, (batch, 1, time) enhanced out."""

    def __init__(
        self,
        sample_rate: int = 16000,
        layers: int = 12,
        extra_filters: int = 24,
        down_kernel: int = 15,
        up_kernel: int = 5,
    ):
        super().__init__()
        if down_kernel % 2 == 0 or up_kernel % 2 == 0:
            raise ValueError("waveunet kernels must be odd so 'same' padding keeps the length")
        self.sample_rate = sample_rate
        self.layers = layers
        widths = [1] + [extra_filters * i for i in range(1, layers + 2)]
        self.encoders = nn.ModuleList(ConvAct(widths[i - 1], widths[i], down_kernel) for i in range(1, layers + 1))
        self.bottleneck = ConvAct(widths[layers], widths[layers + 1], down_kernel)
        self.decoders = nn.ModuleList(
            ConvAct(widths[i + 1] + widths[i], widths[i], up_kernel) for i in range(layers, 0, -1)
        )
        self.output = nn.Conv1d(widths[1] + 1, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = as_mono_batch(x)
        length = x.shape[-1]
        x = pad_to_multiple(x, 2**self.layers)
        h = x
        skips = []
        for encoder in self.encoders:
            h = encoder(h)
            skips.append(h)
            h = h[..., ::2]
        h = self.bottleneck(h)
        for decoder, skip in zip(self.decoders, reversed(skips)):
            h = F.interpolate(h, scale_factor=2, mode="linear", align_corners=False)
            h = decoder(torch.cat([h, skip], dim=1))
        return self.output(torch.cat([h, x], dim=1))[..., :length]
