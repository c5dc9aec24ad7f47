"""Streaming inference for a causal Demucs: feed audio in chunks of any size, get back every
output sample as soon as the model has seen all the input it depends on.

Unlike facebookresearch/denoiser's DemucsStreamer, which approximates the sinc resamplers
with a short lookahead, every stage here keeps exactly the history and waits for exactly
the future it needs, and `flush` reproduces the offline model's zero padding to its valid
length. So with a fixed normalisation scale (`std=`, or a model built with
`normalize=False`) the stream equals `model(audio)` up to float rounding. The price, for
the dns48/dns64 layout, is 103 samples (6.4 ms at 16 kHz) more latency than denoiser's
streamer: output sample n comes back once input n + 508 to n + 763 has arrived (depending
on where n falls in a hop), instead of n + 405 to n + 660.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from sepflow.models.demucs import Demucs
from sepflow.models.resample import ZEROS, sinc_kernel


class _Upsample2:
    """`upsample2` on a stream: keeps ZEROS - 1 past samples, waits for ZEROS future ones."""

    def __init__(self, channels: int, like: torch.Tensor):
        self.kernel = sinc_kernel(ZEROS, like)
        self.buffer = like.new_zeros(channels, ZEROS - 1)

    def push(self, x: torch.Tensor, final: bool) -> torch.Tensor:
        # After the last input the signal is zero, as in the offline padding.
        tail = [x.new_zeros(x.shape[0], ZEROS)] if final else []
        buffer = torch.cat([self.buffer, x, *tail], dim=1)
        ready = buffer.shape[1] - 2 * ZEROS + 1
        if ready <= 0:
            self.buffer = buffer
            return x[:, :0]
        halves = F.conv1d(buffer[:, None], self.kernel)[:, 0]
        kept = buffer[:, ZEROS - 1 : ZEROS - 1 + ready]
        self.buffer = buffer[:, ready:]
        return torch.stack([kept, halves], dim=-1).flatten(1)


class _Downsample2:
    """`downsample2` on a stream: pairs samples, keeps ZEROS past odd samples and waits
    for ZEROS - 1 future ones."""

    def __init__(self, channels: int, like: torch.Tensor):
        self.kernel = sinc_kernel(ZEROS, like)
        self.unpaired = like.new_zeros(channels, 0)
        self.even = like.new_zeros(channels, 0)
        self.odd = like.new_zeros(channels, ZEROS)

    def push(self, x: torch.Tensor, final: bool) -> torch.Tensor:
        x = torch.cat([self.unpaired, x], dim=1)
        if final and x.shape[1] % 2:
            x = F.pad(x, (0, 1))
        pairs = x.shape[1] // 2
        self.unpaired = x[:, 2 * pairs :]
        tail = [x.new_zeros(x.shape[0], ZEROS - 1)] if final else []
        self.even = torch.cat([self.even, x[:, 0 : 2 * pairs : 2]], dim=1)
        odd = torch.cat([self.odd, x[:, 1 : 2 * pairs : 2], *tail], dim=1)
        ready = min(self.even.shape[1], odd.shape[1] - 2 * ZEROS + 1)
        if ready <= 0:
            self.odd = odd
            return x[:, :0]
        halves = F.conv1d(odd[:, None, : ready + 2 * ZEROS - 1], self.kernel)[:, 0]
        out = 0.5 * (self.even[:, :ready] + halves)
        self.even, self.odd = self.even[:, ready:], odd[:, ready:]
        return out


def _conv(conv: nn.Conv1d, x: torch.Tensor) -> torch.Tensor:
    """`conv` over (channels, time) as one matmul on the unfolded windows: for the few frames
    of a hop, PyTorch's CPU convolution is several times slower."""
    windows = x.unfold(1, conv.kernel_size[0], conv.stride[0]).transpose(0, 1).flatten(1)
    return F.linear(windows, conv.weight.flatten(1), conv.bias).T


class _Encoder:
    """One encoder layer on a stream: runs its strided conv on every complete window."""

    def __init__(self, layer: nn.Sequential, channels: int, like: torch.Tensor):
        self.layer = layer
        self.kernel_size = layer[0].kernel_size[0]
        self.stride = layer[0].stride[0]
        self.buffer = like.new_zeros(channels, 0)

    def push(self, x: torch.Tensor) -> torch.Tensor:
        conv, relu, pointwise, gate = self.layer
        buffer = torch.cat([self.buffer, x], dim=1)
        frames = max((buffer.shape[1] - self.kernel_size) // self.stride + 1, 0)
        self.buffer = buffer[:, frames * self.stride :]
        if frames == 0:
            return x.new_zeros(conv.out_channels, 0)
        x = relu(_conv(conv, buffer[:, : (frames - 1) * self.stride + self.kernel_size]))
        return gate(_conv(pointwise, x)[None])[0]


class _Decoder:
    """One decoder layer on a stream: adds the skip, overlap-adds the transposed conv and
    releases each sample once no later frame can reach it."""

    def __init__(self, layer: nn.Sequential, channels: int, like: torch.Tensor):
        self.layer = layer
        self.conv = layer[2]
        self.kernel_size = self.conv.kernel_size[0]
        self.stride = self.conv.stride[0]
        self.skip = like.new_zeros(channels, 0)
        # Partial sums of the positions later frames still add to; the bias comes on release.
        self.overlap = like.new_zeros(self.conv.out_channels, self.kernel_size - self.stride)

    def push(self, x: torch.Tensor, skip: torch.Tensor, final: bool) -> torch.Tensor:
        frames = x.shape[1]
        self.skip = torch.cat([self.skip, skip], dim=1)
        x, self.skip = x + self.skip[:, :frames], self.skip[:, frames:]
        if frames:
            x = self.layer[1](_conv(self.layer[0], x)[None])[0]
            # Transposed conv: each frame's (channels * kernel) contribution, overlap-added.
            columns = x.T @ self.conv.weight.flatten(1)
            length = (frames - 1) * self.stride + self.kernel_size
            y = F.fold(columns.T[None], (1, length), (1, self.kernel_size), stride=(1, self.stride))[0, :, 0]
            y[:, : self.overlap.shape[1]] += self.overlap
        else:
            y = self.overlap
        ready = y.shape[1] if final else frames * self.stride
        out, self.overlap = y[:, :ready], y[:, ready:]
        out = out + self.conv.bias[:, None]
        return self.layer[3](out) if len(self.layer) > 3 else out


def _first_hop(model: Demucs, num_frames: int) -> int:
    """Input samples needed to run the first `num_frames` innermost frames; hops ending
    there release each output sample with the least delay."""
    span = 1  # network-rate samples seen by one innermost frame
    for _ in range(model.depth):
        span = (span - 1) * model.stride + model.kernel_size
    last = span - 1 + (num_frames - 1) * model.stride**model.depth
    for _ in range(model.resample // 2):
        # An upsampled odd sample interpolates ZEROS samples ahead; an even one is a copy.
        last = last // 2 + (ZEROS if last % 2 else 0)
    return last + 1


def _lstm_frames(lstm: nn.LSTM, x: torch.Tensor, state):
    """`lstm` over the (frames, dim) x from `state`, with plain matmuls.

    On CPU, nn.LSTM dispatches to oneDNN, which costs about ten times more than this for the
    one or two frames of a hop.
    """
    if state is None:
        state = ([x.new_zeros(lstm.hidden_size)] * lstm.num_layers,) * 2
    hidden, cell = list(state[0]), list(state[1])
    for layer in range(lstm.num_layers):
        w_ih, w_hh, b_ih, b_hh = (
            getattr(lstm, f"{name}_l{layer}") for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
        )
        outs = []
        for gates in F.linear(x, w_ih, b_ih + b_hh):
            i, f, g, o = (gates + F.linear(hidden[layer], w_hh)).chunk(4)
            cell[layer] = f.sigmoid() * cell[layer] + i.sigmoid() * g.tanh()
            hidden[layer] = o.sigmoid() * cell[layer].tanh()
            outs.append(hidden[layer])
        x = torch.stack(outs)
    return x, (hidden, cell)


class DemucsStreamer:
    """Run a causal Demucs on a live stream, keeping every buffer and the LSTM state between
    calls.

    Args:
        model: a causal `Demucs`.
        dry: share of the input mixed back into the output; 0 removes the most noise, small
            values limit distortion.
        num_frames: LSTM steps per hop; more gives fewer, larger computations and more latency.
        std: fixed normalisation scale for a model with `normalize=True`, e.g. the std of the
            whole recording, with which the stream equals the offline model. None keeps a
            running std of all the input so far, as a live stream must. Unused when the
            model has `normalize=False`.

    The first hop is `first_hop` samples (the input the first innermost frames need), the
    next ones `stride` samples. This is the streaming protocol of sepflow.models.streaming.
    """

    def __init__(self, model: Demucs, dry: float = 0.0, num_frames: int = 1, std: float | None = None):
        if num_frames < 1:
            raise ValueError(f"num_frames must be at least 1, got {num_frames}")
        if not model.causal:
            raise ValueError("only a causal Demucs can stream: its LSTM must be unidirectional")
        if model.kernel_size < model.stride:
            raise ValueError("streaming needs kernel_size >= stride")
        if dry and model.chin != model.chout:
            raise ValueError(f"dry mixing needs chin == chout, got {model.chin} and {model.chout}")
        self.model = model
        self.dry = dry
        self.std = std
        self.stride = model.total_stride * num_frames
        self.hop = self.stride
        self.first_hop = _first_hop(model, num_frames)
        self.latency = self._measure_latency()
        self.reset()

    def _measure_latency(self, hops: int = 8) -> int:
        """The most input samples after any output sample before it is released: the first
        hops release uneven counts until the resamplers' buffers fill, so run a few."""
        zeros = next(self.model.parameters()).new_zeros(self.model.chin, self.first_hop)
        self.reset()
        fed, emitted, worst = 0, 0, 0
        for hop in [self.first_hop] + [self.stride] * hops:
            fed += hop
            released = self.feed(zeros[:, :hop]).shape[1]
            if released:
                worst = max(worst, fed - 1 - emitted)
            emitted += released
        return worst

    def reset(self) -> None:
        """Forget the stream so far: the next `feed` starts a new recording."""
        model = self.model
        like = next(model.parameters())
        stages = model.resample // 2  # 1 -> 0, 2 -> 1, 4 -> 2 resampling passes
        self._upsample = [_Upsample2(model.chin, like) for _ in range(stages)]
        self._downsample = [_Downsample2(model.chout, like) for _ in range(stages)]
        channels = [model.chin] + [layer[0].out_channels for layer in model.encoder]
        self._encoders = [_Encoder(layer, ch, like) for layer, ch in zip(model.encoder, channels)]
        self._decoders = [_Decoder(layer, ch, like) for layer, ch in zip(model.decoder, reversed(channels[1:]))]
        self._lstm_state = None
        self._pending = like.new_zeros(model.chin, 0)
        self._dry = like.new_zeros(model.chin, 0)
        self._hop = self.first_hop
        self._fed = self._emitted = 0
        self._count, self._sum, self._sum_squares = 0, 0.0, 0.0

    @torch.no_grad()
    def feed(self, chunk: torch.Tensor) -> torch.Tensor:
        """Take (chin, n) more input; return the (chout, m) output samples now determined."""
        if chunk.dim() != 2 or chunk.shape[0] != self.model.chin:
            raise ValueError(f"expected a ({self.model.chin}, time) chunk, got {tuple(chunk.shape)}")
        self._pending = torch.cat([self._pending, chunk], dim=1)
        self._fed += chunk.shape[1]
        outs = [chunk.new_zeros(self.model.chout, 0)]
        while self._pending.shape[1] >= self._hop:
            block, self._pending = self._pending[:, : self._hop], self._pending[:, self._hop :]
            outs.append(self._step(block, real=self._hop, final=False))
            self._hop = self.stride
        return torch.cat(outs, dim=1)

    @torch.no_grad()
    def flush(self) -> torch.Tensor:
        """End the recording as the offline model does (zeros up to its valid length) and
        return the rest of the output; the streamer is then ready for a new recording."""
        length, missing = self._fed, self._fed - self._emitted
        out = self._pending.new_zeros(self.model.chout, 0)
        if length:
            block = F.pad(self._pending, (0, self.model.valid_length(length) - length))
            out = self._step(block, real=self._pending.shape[1], final=True)[:, :missing]
        self.reset()
        return out

    def _scale(self, block: torch.Tensor) -> float:
        """The normalisation std: fixed, or running over all the (unpadded) input so far."""
        if self.std is not None:
            return float(self.std)
        mono = block.mean(dim=0, dtype=torch.float64)
        self._count += mono.shape[0]
        self._sum += mono.sum().item()
        self._sum_squares += mono.square().sum().item()
        variance = (self._sum_squares - self._sum**2 / self._count) / max(self._count - 1, 1)
        return math.sqrt(max(variance, 0.0))

    def _step(self, block: torch.Tensor, real: int, final: bool) -> torch.Tensor:
        """Push one block through every stage; `real` leading samples are input, not padding."""
        x = self._wet(block, real, final)
        made = x.shape[1]
        self._dry = torch.cat([self._dry, block], dim=1)
        dry, self._dry = self._dry[:, :made], self._dry[:, made:]
        self._emitted += made
        return self.dry * dry + (1 - self.dry) * x

    def _wet(self, block: torch.Tensor, real: int, final: bool) -> torch.Tensor:
        """The model's output for one block, before the dry mix (sepflow.export traces this)."""
        model = self.model
        x = block
        if model.normalize:
            scale = self._scale(block[:, :real])
            x = x / (model.floor + scale)
        for stage in self._upsample:
            x = stage.push(x, final)
        skips = []
        for encoder in self._encoders:
            x = encoder.push(x)
            skips.append(x)
        if x.shape[1]:
            x, self._lstm_state = _lstm_frames(model.lstm.lstm, x.T, self._lstm_state)
            x = x.T
        for decoder, skip in zip(self._decoders, reversed(skips)):
            x = decoder.push(x, skip, final)
        for stage in self._downsample:
            x = stage.push(x, final)
        return scale * x if model.normalize else x
