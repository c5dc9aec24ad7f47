"""`TCMUNet` as graphs for ONNX export: one 10 ms hop with its state as explicit tensors,
and the whole model over any length.

Both run the model's own modules (convolutions, batch norms, PReLUs) and replace rfft and
irfft by constant DFT matrices with the window (and, for the synthesis, the overlap-add
envelope) folded in: ONNX Runtime's DFT op costs more than these two small matrix products
for n_fft = 320, and torch.stft exports with a dynamic length only as that op. The folded
matmuls of `tcm_unet_stream` suit PyTorch's eager mode, not a graph runtime, which fuses
modules itself.

The hop's state is the last input hop, the overlap-add tail and each TCM block's cache of
past squeezed frames. Its output at hop k completes hop k - 1 (the first call's belongs
before the signal), as `TCMUNetStreamer` releases it; a signal ends with zero hops.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from sepflow.export.stream_graphs import State, StreamGraphs
from sepflow.models.blocks import ceil_div
from sepflow.models.tcm_unet import TCMUNet


def dft_matrices(n_fft: int, window: torch.Tensor, envelope: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(n_fft, 2 * freq) analysis: frame -> [real | imaginary] of the windowed frame's rfft; and
    (2 * freq, n_fft) synthesis: [real | imaginary] -> irfft times the window, divided by
    the overlap-add envelope. Built in float64, stored in float32."""
    freq = n_fft // 2 + 1
    n = torch.arange(n_fft, dtype=torch.float64)
    angle = 2 * math.pi * torch.outer(n, torch.arange(freq, dtype=torch.float64)) / n_fft  # (n_fft, freq)
    w = window.double()[:, None]
    analysis = torch.cat([w * torch.cos(angle), -w * torch.sin(angle)], dim=1)
    # irfft counts the bins 1 .. freq - 2 twice (their mirror images); the imaginary parts of
    # DC and Nyquist drop out by themselves (their sines are 0).
    twice = torch.full((freq, 1), 2.0, dtype=torch.float64)
    twice[0] = twice[-1] = 1.0
    scale = window.double() / envelope.double().repeat(n_fft // envelope.numel()) / n_fft
    synthesis = torch.cat([twice * torch.cos(angle.T), -twice * torch.sin(angle.T)]) * scale
    return analysis.float(), synthesis.float()


class _Spectral(nn.Module):
    """The model's spectral network with the DFT matrices beside it."""

    def __init__(self, model: TCMUNet):
        super().__init__()
        if model.training:
            raise ValueError("TCMUNet graphs need an eval-mode model (batch norm running stats): call model.eval()")
        self.net, self.hop, self.n_fft = model.net, model.hop, model.n_fft
        analysis, synthesis = dft_matrices(model.n_fft, model.window, model.envelope())
        self.register_buffer("analysis", analysis)
        self.register_buffer("synthesis", synthesis)


class TCMUNetHop(_Spectral):
    """forward(audio (1, hop), last (1, hop), tail (1, hop), *caches (1, hidden, context))
    -> (out (1, hop), last', tail', *caches'): one hop in, the previous hop's output out."""

    def states(self) -> list[State]:
        states = [State("last input hop", (1, self.hop)), State("overlap-add tail over the envelope", (1, self.hop))]
        for i, block in enumerate(self.net.tcm):
            hidden = block.squeeze.out_channels
            states.append(State(f"TCM block {i}: last {block.context} squeezed frames", (1, hidden, block.context)))
        return states

    def forward(self, audio: torch.Tensor, last: torch.Tensor, tail: torch.Tensor, *caches: torch.Tensor):
        net = self.net
        frame = torch.cat([last, audio], dim=1)  # (1, n_fft)
        x, skips = (frame @ self.analysis).reshape(1, 2, 1, -1), []  # (batch, re/im, frames, freq)
        for level in net.encoder:
            x = level(x)
            skips.append(x)
        _, c, _, f = x.shape
        y = net.project_in(x.permute(0, 1, 3, 2).reshape(1, c * f, 1))
        new_caches = []
        for block, cache in zip(net.tcm, caches):
            window = torch.cat([cache, block.squeeze_act(block.squeeze_norm(block.squeeze(y)))], dim=2)
            value, gate = block.branches(window).chunk(2, dim=1)
            y = y + block.expand(block.expand_act(block.expand_norm(value * torch.sigmoid(gate))))
            new_caches.append(window[:, :, 1:])
        y = net.project_out(y).reshape(1, c, f, 1).permute(0, 1, 3, 2)
        out = torch.cat([decoder(y, skips) for decoder in net.decoders], dim=1)  # (1, 2, 1, freq)
        chunk = out.reshape(1, -1) @ self.synthesis  # (1, n_fft)
        return (tail + chunk[:, : self.hop], audio, chunk[:, self.hop :], *new_caches)


class TCMUNetOffline(_Spectral):
    """forward(audio (batch, 1, time)) -> (batch, 1, time): `TCMUNet.forward` with its framing
    and 50% overlap-add written as reshapes, so any length runs through one graph."""

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        batch, _, length = audio.shape
        hops = ceil_div(length, self.hop) + 1  # the frames, plus the left pad's hop
        padded = F.pad(audio[:, 0], (self.n_fft - self.hop, hops * self.hop - length)).reshape(batch, hops + 1, -1)
        frames = torch.cat([padded[:, :-1], padded[:, 1:]], dim=2)  # (batch, frames, n_fft)
        spec = (frames @ self.analysis).reshape(batch, hops, 2, -1).transpose(1, 2)
        out = self.net(spec).transpose(1, 2).reshape(batch, hops, -1)  # (batch, frames, 2 * freq)
        chunks = out @ self.synthesis  # (batch, frames, n_fft)
        wav = chunks[:, 1:, : self.hop] + chunks[:, :-1, self.hop :]  # hop k: frame k + 1's head, frame k's tail
        return wav.reshape(batch, 1, -1)[..., :length]


def tcm_unet_stream(model: TCMUNet) -> StreamGraphs:
    hop = TCMUNetHop(model).eval()
    states = hop.states()
    example = (torch.zeros(1, model.hop), *(state.zeros() for state in states))
    return StreamGraphs(
        hop=model.hop,
        first_hop=model.hop,
        latency=model.n_fft - 1,
        delay=model.hop,
        flush_block=None,
        valid=False,
        states=states,
        modules={"hop": (hop, example)},
    )
