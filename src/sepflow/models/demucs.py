"""Demucs for speech enhancement (Defossez et al., "Real Time Speech Enhancement in the
Waveform Domain", Interspeech 2020).

A waveform U-Net: the input is upsampled by `resample`, encoded by strided convolutions,
summarised by an LSTM (bidirectional when not causal), decoded by transposed convolutions
with skip connections, and downsampled back. Module and parameter names match
facebookresearch/denoiser, so its published checkpoints (dns48, dns64, master64,
valentini_nc) load with `load_state_dict(strict=True)`. `sepflow.models.demucs_stream` runs
a causal model chunk by chunk.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from sepflow.models.blocks import ceil_div
from sepflow.models.resample import downsample2, upsample2


class BLSTM(nn.Module):
    """Two-layer LSTM over (time, batch, dim); bidirectional ones are projected back to dim."""

    def __init__(self, dim: int, bi: bool):
        super().__init__()
        self.lstm = nn.LSTM(input_size=dim, hidden_size=dim, num_layers=2, bidirectional=bi)
        self.linear = nn.Linear(2 * dim, dim) if bi else None

    def forward(self, x: torch.Tensor, state=None):
        x, state = self.lstm(x, state)
        if self.linear is not None:
            x = self.linear(x)
        return x, state


def rescale_conv_weights(module: nn.Module, reference: float) -> None:
    """Scale each conv so its weight std moves to sqrt(std * reference).

    Smaller initial weights train better for waveform U-Nets (Defossez et al. 2019,
    arXiv:1911.13254); the published checkpoints were trained from this initialisation.
    """
    for conv in module.modules():
        if isinstance(conv, (nn.Conv1d, nn.ConvTranspose1d)):
            scale = (conv.weight.std().detach() / reference) ** 0.5
            conv.weight.data /= scale
            if conv.bias is not None:
                conv.bias.data /= scale


class Demucs(nn.Module):
    """Waveform U-Net: (batch, chin, time) -> (batch, chout, time), any time length.

    Args:
        chin, chout: input and output channels.
        hidden: channels of the first layer, multiplied by `growth` per layer, capped at
            `max_hidden`.
        depth, kernel_size, stride: encoder/decoder layers and their convolution shape.
        causal: unidirectional LSTM (streamable) instead of a bidirectional one.
        resample: 1, 2 or 4; the network runs at `resample` times the input rate.
        normalize: divide the input by its std (plus `floor`) and restore the scale after.
        glu: gate the 1x1 convolutions with a GLU instead of a ReLU.
        rescale: reference std for the initial conv weights (0 keeps PyTorch's init).
        sample_rate: rate the model is meant for, stored with its arguments.
    """

    def __init__(
        self,
        chin: int = 1,
        chout: int = 1,
        hidden: int = 48,
        depth: int = 5,
        kernel_size: int = 8,
        stride: int = 4,
        causal: bool = True,
        resample: int = 4,
        growth: float = 2,
        max_hidden: int = 10_000,
        normalize: bool = True,
        glu: bool = True,
        rescale: float = 0.1,
        floor: float = 1e-3,
        sample_rate: int = 16_000,
    ):
        super().__init__()
        if resample not in (1, 2, 4):
            raise ValueError(f"resample must be 1, 2 or 4, got {resample}")
        self.chin = chin
        self.chout = chout
        self.hidden = hidden
        self.depth = depth
        self.kernel_size = kernel_size
        self.stride = stride
        self.causal = causal
        self.resample = resample
        self.normalize = normalize
        self.floor = floor
        self.sample_rate = sample_rate

        self.encoder = nn.ModuleList()
        self.decoder = nn.ModuleList()
        gate = 2 if glu else 1
        channels_in, channels_out = chin, chout
        for index in range(depth):
            self.encoder.append(
                nn.Sequential(
                    nn.Conv1d(channels_in, hidden, kernel_size, stride),
                    nn.ReLU(),
                    nn.Conv1d(hidden, gate * hidden, 1),
                    nn.GLU(1) if glu else nn.ReLU(),
                )
            )
            decode = [
                nn.Conv1d(hidden, gate * hidden, 1),
                nn.GLU(1) if glu else nn.ReLU(),
                nn.ConvTranspose1d(hidden, channels_out, kernel_size, stride),
            ]
            if index > 0:  # the outermost decoder layer outputs the waveform: no ReLU
                decode.append(nn.ReLU())
            self.decoder.insert(0, nn.Sequential(*decode))
            channels_in = channels_out = hidden
            hidden = min(int(growth * hidden), max_hidden)

        self.lstm = BLSTM(channels_in, bi=not causal)
        if rescale:
            rescale_conv_weights(self, rescale)

    def valid_length(self, length: int) -> int:
        """Smallest length >= `length` that every strided conv consumes without leftover."""
        length = length * self.resample
        for _ in range(self.depth):
            length = max(ceil_div(length - self.kernel_size, self.stride) + 1, 1)
        for _ in range(self.depth):
            length = (length - 1) * self.stride + self.kernel_size
        return ceil_div(length, self.resample)

    @property
    def total_stride(self) -> int:
        """Input samples per frame of the innermost layer (the LSTM's time step)."""
        return self.stride**self.depth // self.resample

    def forward(self, mix: torch.Tensor) -> torch.Tensor:
        if mix.dim() == 2:
            mix = mix.unsqueeze(1)
        length = mix.shape[-1]
        if self.normalize:
            mono = mix.mean(dim=1, keepdim=True)
            # One sample has no unbiased std: fall back to the biased one (0) to stay finite.
            std = mono.std(dim=-1, keepdim=True, correction=min(1, length - 1))
            mix = mix / (self.floor + std)
        else:
            std = 1
        x = F.pad(mix, (0, self.valid_length(length) - length))
        for _ in range(self.resample // 2):  # 1, 2, 4 -> 0, 1, 2 passes
            x = upsample2(x)

        skips = []
        for encode in self.encoder:
            x = encode(x)
            skips.append(x)
        x, _ = self.lstm(x.permute(2, 0, 1))
        x = x.permute(1, 2, 0)
        for decode in self.decoder:
            skip = skips.pop()
            x = decode(x + skip[..., : x.shape[-1]])

        for _ in range(self.resample // 2):
            x = downsample2(x)
        return std * x[..., :length]
