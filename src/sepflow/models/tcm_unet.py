"""Causal complex spectral mapping: a convolutional U-Net around gated temporal convolutions.

After Zhang et al. 2020 (arXiv 2011.01561). The network maps the noisy (real, imaginary)
spectrogram (batch, 2, frames, 161) to the clean one. Every U-Net convolution has kernel
size 1 along time, so frames are processed independently except in the middle, where a
stack of double gated temporal convolution modules (TCM) looks back with causal dilated
convolutions. That makes the model streamable frame by frame (see
`sepflow.models.tcm_unet_stream`).

Framing is chosen so that a stream can reproduce it exactly: no centre padding, a left
pad of n_fft - hop zeros, a right pad to whole frames, and an overlap-add iSTFT divided by
the (periodic) squared-window envelope.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _freq_sizes(n_freq: int, levels: int) -> list[int]:
    """Frequency bins after each (1, 4) / (1, 2) valid convolution, input first."""
    sizes = [n_freq]
    for _ in range(levels):
        sizes.append((sizes[-1] - 4) // 2 + 1)
    if sizes[-1] < 1:
        raise ValueError(f"n_fft too small for {levels} frequency-halving levels")
    return sizes


class EncoderLevel(nn.Module):
    """Frequency-downsampling conv, batch norm, PReLU; kernel 1 in time keeps it causal."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel_size=(1, 4), stride=(1, 2))
        self.norm = nn.BatchNorm2d(c_out)
        self.act = nn.PReLU(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.norm(self.conv(x)))


class DecoderLevel(nn.Module):
    """Adds the encoder skip through a 1x1 conv, then upsamples frequency by a transposed conv.

    The last level is linear (no norm, no activation): spectra take any sign and scale.
    """

    def __init__(self, c_in: int, c_out: int, output_padding: int, last: bool):
        super().__init__()
        self.skip = nn.Conv2d(c_in, c_in, kernel_size=1)
        self.conv = nn.ConvTranspose2d(
            c_in, c_out, kernel_size=(1, 4), stride=(1, 2), output_padding=(0, output_padding)
        )
        self.norm = nn.Identity() if last else nn.BatchNorm2d(c_out)
        self.act = nn.Identity() if last else nn.PReLU(c_out)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.act(self.norm(self.conv(x + self.skip(skip))))


class Decoder(nn.Module):
    """One output plane (real or imaginary) built up from the bottleneck and the skips."""

    def __init__(self, channels: list[int], freq_sizes: list[int]):
        super().__init__()
        levels = len(channels)
        outs = [1] + channels[:-1]
        self.levels = nn.ModuleList()
        for i in reversed(range(levels)):
            expected = (freq_sizes[i + 1] - 1) * 2 + 4
            self.levels.append(DecoderLevel(channels[i], outs[i], freq_sizes[i] - expected, last=i == 0))

    def forward(self, x: torch.Tensor, skips: list[torch.Tensor]) -> torch.Tensor:
        for level, skip in zip(self.levels, reversed(skips)):
            x = level(x, skip)
        return x


class GatedTCM(nn.Module):
    """Double gated TCM: squeeze, two sigmoid-gated dilated causal conv branches, expand, residual.

    Both branches (primal and dual) see the same squeezed input, so their four dilated
    convolutions (value and gate of each) are one conv whose output channels are laid out
    [primal, dual | primal gate, dual gate]: a streaming step is then one matrix product
    over the k cached frames. Causality comes from left padding only.
    """

    def __init__(self, channels: int, hidden: int, kernel_size: int, dilation: int):
        super().__init__()
        self.dilation = dilation
        self.kernel_size = kernel_size
        self.squeeze = nn.Conv1d(channels, hidden, 1)
        self.squeeze_norm = nn.BatchNorm1d(hidden)
        self.squeeze_act = nn.PReLU(hidden)
        self.branches = nn.Conv1d(hidden, 4 * hidden, kernel_size, dilation=dilation)
        self.expand_norm = nn.BatchNorm1d(2 * hidden)
        self.expand_act = nn.PReLU(2 * hidden)
        self.expand = nn.Conv1d(2 * hidden, channels, 1)

    @property
    def context(self) -> int:
        """Past frames the dilated conv needs besides the current one."""
        return (self.kernel_size - 1) * self.dilation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, channels, frames) -> same."""
        h = self.squeeze_act(self.squeeze_norm(self.squeeze(x)))
        value, gate = self.branches(F.pad(h, (self.context, 0))).chunk(2, dim=1)
        y = value * torch.sigmoid(gate)
        return x + self.expand(self.expand_act(self.expand_norm(y)))


class TCMNet(nn.Module):
    """The spectral network: (batch, 2, frames, n_freq) -> (batch, 2, frames, n_freq)."""

    def __init__(
        self,
        n_freq: int,
        channels: list[int],
        tcm_channels: int,
        tcm_hidden: int,
        kernel_size: int,
        dilations: list[int],
        repeats: int,
    ):
        super().__init__()
        freq_sizes = _freq_sizes(n_freq, len(channels))
        self.encoder = nn.ModuleList(EncoderLevel(c_in, c_out) for c_in, c_out in zip([2] + channels[:-1], channels))
        bottleneck = channels[-1] * freq_sizes[-1]
        self.project_in = nn.Conv1d(bottleneck, tcm_channels, 1)
        self.tcm = nn.ModuleList(
            GatedTCM(tcm_channels, tcm_hidden, kernel_size, d) for _ in range(repeats) for d in dilations
        )
        self.project_out = nn.Conv1d(tcm_channels, bottleneck, 1)
        self.decoders = nn.ModuleList(Decoder(channels, freq_sizes) for _ in range(2))

    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        x, skips = spec, []
        for level in self.encoder:
            x = level(x)
            skips.append(x)
        b, c, t, f = x.shape
        y = self.project_in(x.permute(0, 1, 3, 2).reshape(b, c * f, t))
        for block in self.tcm:
            y = block(y)
        y = self.project_out(y).reshape(b, c, f, t).permute(0, 1, 3, 2)
        return torch.cat([decoder(y, skips) for decoder in self.decoders], dim=1)


class TCMUNet(nn.Module):
    """Waveform in, waveform out: STFT -> `net` (complex spectral mapping) -> overlap-add iSTFT.

    Input (batch, 1, time) or (batch, time); output (batch, 1, time), any length.
    """

    def __init__(
        self,
        n_fft: int = 320,
        hop: int = 160,
        channels: list[int] | tuple[int, ...] = (16, 32, 32, 64, 64),
        tcm_channels: int = 256,
        tcm_hidden: int = 64,
        kernel_size: int = 3,
        dilations: list[int] | tuple[int, ...] = (1, 2, 4, 8, 16, 32),
        repeats: int = 2,
        sample_rate: int = 16000,
    ):
        super().__init__()
        if n_fft != 2 * hop:
            raise ValueError(f"TCMUNet needs 50% overlap (n_fft == 2 * hop), got n_fft={n_fft}, hop={hop}")
        self.n_fft, self.hop, self.sample_rate = n_fft, hop, sample_rate
        # A buffer, not sepflow.audio.stft's cached window: a cached tensor first made under
        # inference_mode cannot be saved for backward later in training.
        self.register_buffer("window", torch.hann_window(n_fft, periodic=True), persistent=False)
        self.net = TCMNet(
            n_fft // 2 + 1, list(channels), tcm_channels, tcm_hidden, kernel_size, list(dilations), repeats
        )

    def envelope(self) -> torch.Tensor:
        """Sum of squared windows over one hop: w²[m] + w²[m + hop], between 0.5 and 1 for Hann."""
        w2 = self.window**2
        return w2[: self.hop] + w2[self.hop :]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 3 and x.shape[1] != 1:
            raise ValueError(f"TCMUNet enhances mono audio: expected (batch, 1, time), got {tuple(x.shape)}")
        wav = x if x.dim() == 2 else x[:, 0]
        length = wav.shape[-1]
        frames = -(-length // self.hop) + 1
        padded = F.pad(wav, (self.n_fft - self.hop, frames * self.hop - length))
        spec = torch.stft(
            padded, self.n_fft, self.hop, window=self.window, center=False, return_complex=True
        )  # (batch, freq, frames)
        spec = torch.view_as_real(spec).permute(0, 3, 2, 1)  # (batch, 2, frames, freq)
        out = self.net(spec)
        out = torch.complex(out[:, 0], out[:, 1])  # (batch, frames, freq)
        chunks = torch.fft.irfft(out, n=self.n_fft) * self.window
        wav_out = F.fold(chunks.transpose(1, 2), (1, padded.shape[-1]), (1, self.n_fft), stride=(1, self.hop))
        wav_out = wav_out[:, 0, 0, self.n_fft - self.hop : self.n_fft - self.hop + length]
        env = self.envelope().repeat(-(-length // self.hop))[:length]
        return (wav_out / env).unsqueeze(1)
