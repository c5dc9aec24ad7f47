"""Frame-by-frame streaming of `TCMUNet` (10 ms hop) that reproduces the offline output.

Each 160-sample hop completes one analysis frame (the previous hop + this one), which runs
through the network with cached TCM history; overlap-add then completes the hop before
it. Output is aligned with the input (output sample i estimates input sample i) and is
released one hop late: a hop's output needs the input up to the end of the next hop, so
the latency is n_fft - 1 = 319 samples (20 ms) at most.

For speed the streamer does not call the torch modules on one-frame tensors (tiny convs
take torch's slow paths): it snapshots the eval-mode weights into plain matrices with
batch norm folded in, so a frame is a few dozen matrix products. Build a new streamer
after changing the weights.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from sepflow.models.tcm_unet import TCMUNet


def _bn_affine(bn: nn.Module, channels: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Eval batch norm as y = scale * x + shift (identity for nn.Identity)."""
    if isinstance(bn, nn.Identity):
        return torch.ones(channels), torch.zeros(channels)
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    return scale, bn.bias - bn.running_mean * scale


def _own(*tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Contiguous copies, so later training of the model does not leak into a running stream."""
    return tuple(t.detach().clone().contiguous() for t in tensors)


class _FrameNet:
    """`TCMNet` for one frame at a time. Activations are (channels, freq) in the U-Net and
    (1, channels) rows in the TCM; caches hold the last `context` squeezed TCM frames."""

    @torch.no_grad()
    def __init__(self, net: nn.Module):
        self.encoder = []
        for level in net.encoder:
            w = level.conv.weight[:, :, 0, :]  # (out, in, 4)
            scale, shift = _bn_affine(level.norm, w.shape[0])
            self.encoder.append(
                _own(
                    (w * scale[:, None, None]).reshape(w.shape[0], -1),
                    (level.conv.bias * scale + shift)[:, None],
                    level.act.weight,
                )
            )
        self.project_in = _own(net.project_in.weight[:, :, 0], net.project_in.bias)
        self.project_out = _own(net.project_out.weight[:, :, 0], net.project_out.bias)
        self.tcm = []
        for block in net.tcm:
            hidden = block.squeeze.out_channels
            s1, t1 = _bn_affine(block.squeeze_norm, hidden)
            s2, t2 = _bn_affine(block.expand_norm, 2 * hidden)
            w = block.branches.weight.permute(0, 2, 1).reshape(4 * hidden, -1)  # (4h, k * h), frame-major taps
            # The expand norm's scale moves into the value rows: scale * (v * gate) = (scale * v) * gate.
            row_scale = torch.cat([s2, torch.ones(2 * hidden)])
            self.tcm.append(
                dict(
                    dilation=block.dilation,
                    squeeze=_own(block.squeeze.weight[:, :, 0] * s1[:, None], block.squeeze.bias * s1 + t1),
                    squeeze_act=_own(block.squeeze_act.weight)[0],
                    branches=_own(w * row_scale[:, None], block.branches.bias * row_scale),
                    shift=_own(t2)[0],
                    expand_act=_own(block.expand_act.weight)[0],
                    expand=_own(block.expand.weight[:, :, 0], block.expand.bias),
                )
            )
        self.context = [block.context for block in net.tcm]
        self.hidden = [block.squeeze.out_channels for block in net.tcm]
        self.decoders = []
        for decoder in net.decoders:
            levels = []
            for level in decoder.levels:
                scale, shift = _bn_affine(level.norm, level.conv.out_channels)
                w = level.conv.weight[:, :, 0, :] * scale[None, :, None]  # (in, out, 4)
                levels.append(
                    dict(
                        skip=_own(level.skip.weight[:, :, 0, 0], level.skip.bias[:, None]),
                        weight=_own(w.permute(1, 2, 0).reshape(-1, w.shape[0]))[0],  # (out * 4, in)
                        bias=_own(level.conv.bias * scale + shift)[0][:, None],
                        extra=level.conv.output_padding[1],
                        act=_own(level.act.weight)[0] if isinstance(level.act, nn.PReLU) else None,
                    )
                )
            self.decoders.append(levels)

    def init_state(self) -> list[torch.Tensor]:
        """Zero caches: the same zeros the offline causal padding feeds in."""
        return [torch.zeros(c, h) for c, h in zip(self.context, self.hidden)]

    def __call__(self, x: torch.Tensor, state: list[torch.Tensor]) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """x (2, freq) noisy frame -> (2, freq) enhanced frame and the new caches."""
        skips = []
        for w, b, a in self.encoder:
            cols = x.unfold(1, 4, 2).permute(0, 2, 1).reshape(w.shape[1], -1)  # (in * 4, freq')
            x = F.prelu(torch.addmm(b, w, cols).unsqueeze(0), a)[0]
            skips.append(x)
        c, f = x.shape
        y = F.linear(x.reshape(1, -1), *self.project_in)
        new_state = []
        for p, past in zip(self.tcm, state):
            h = F.prelu(F.linear(y, *p["squeeze"]), p["squeeze_act"])
            window = torch.cat([past, h])
            z = F.linear(window[:: p["dilation"]].reshape(1, -1), *p["branches"])
            value, gate = z.chunk(2, dim=1)
            g = F.prelu(value * torch.sigmoid(gate) + p["shift"], p["expand_act"])
            y = y + F.linear(g, *p["expand"])
            new_state.append(window[1:])
        y = F.linear(y, *self.project_out).reshape(c, f)
        outs = []
        for levels in self.decoders:
            d = y
            for q, skip in zip(levels, reversed(skips)):
                d = d + torch.addmm(q["skip"][1], q["skip"][0], skip)
                # Transposed conv = per-bin matrix product, then overlap-add of the 4 taps at stride 2.
                cols = (q["weight"] @ d).unsqueeze(0)  # (1, out * 4, freq)
                d = F.fold(cols, (1, 2 * d.shape[1] + 2 + q["extra"]), (1, 4), stride=(1, 2))[0, :, 0] + q["bias"]
                if q["act"] is not None:
                    d = F.prelu(d.unsqueeze(0), q["act"])[0]
            outs.append(d)
        return torch.cat(outs), new_state


class TCMUNetStreamer:
    """The streaming protocol (sepflow.models.streaming) for `TCMUNet`: `feed` any chunk
    size, `flush` at the end of the signal.

    `flush` emits the tail and resets the state, so one streamer can serve several signals
    in turn. Runs on CPU, batch 1, mono.
    """

    def __init__(self, model: TCMUNet):
        if model.training:
            raise ValueError(
                "TCMUNetStreamer needs an eval-mode model (batch norm running stats): call model.eval() first"
            )
        if model.window.device.type != "cpu":
            raise ValueError("TCMUNetStreamer runs on CPU: pass model.cpu()")
        self.hop, self.n_fft = model.hop, model.n_fft
        self.latency = self.n_fft - 1
        self._net = _FrameNet(model.net)
        self._window, self._envelope = _own(model.window, model.envelope())
        self.reset()

    def reset(self) -> None:
        """Start a new signal: zero history, as the offline left padding does."""
        self._pending = torch.zeros(0)
        self._last = torch.zeros(self.hop)
        self._overlap = torch.zeros(self.hop)
        self._state = self._net.init_state()
        self._frames = 0
        self._fed = self._emitted = 0

    def _step(self, hop: torch.Tensor) -> torch.Tensor:
        """One analysis frame in, one completed output hop out."""
        frame = torch.cat([self._last, hop]) * self._window
        self._last = hop
        spec = torch.view_as_real(torch.fft.rfft(frame)).T  # (2, freq)
        out, self._state = self._net(spec, self._state)
        chunk = torch.fft.irfft(torch.complex(out[0], out[1]), n=self.n_fft) * self._window
        done = (self._overlap + chunk[: self.hop]) / self._envelope
        self._overlap = chunk[self.hop :]
        self._frames += 1
        # The first frame completes the hop before the signal started: nothing to emit.
        return done if self._frames > 1 else done[:0]

    def _run(self, chunk: torch.Tensor) -> torch.Tensor:
        self._pending = torch.cat([self._pending, chunk.reshape(-1).to(self._pending)])
        outs = [torch.zeros(0)]
        while self._pending.numel() >= self.hop:
            outs.append(self._step(self._pending[: self.hop]))
            self._pending = self._pending[self.hop :]
        return torch.cat(outs)

    @torch.inference_mode()
    def feed(self, chunk: torch.Tensor) -> torch.Tensor:
        """Take (1, n) or (n,) new samples; return (1, m) output samples, m a multiple of hop."""
        self._fed += chunk.numel()
        out = self._run(chunk)
        self._emitted += out.numel()
        return out.unsqueeze(0)

    @torch.inference_mode()
    def flush(self) -> torch.Tensor:
        """End the signal: zero-pad to whole frames plus one hop, emit the rest (so the
        output is as long as the input), reset."""
        missing = self._fed - self._emitted
        out = self._run(torch.zeros(-self._pending.numel() % self.hop + self.hop))[:missing]
        self.reset()
        return out.unsqueeze(0)
