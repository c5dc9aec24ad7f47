"""TCMUNet: shapes, framing, causality, streaming == offline, trainability, architecture."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from sepflow.models import build_model, count_parameters
from sepflow.models.streaming import stream
from sepflow.models.tcm_unet import TCMUNet
from sepflow.models.tcm_unet_stream import TCMUNetStreamer

N_FFT, HOP = 320, 160
PARAMETERS = 1_408_034  # default config


@pytest.fixture(scope="module")
def model() -> TCMUNet:
    """Random weights, eval mode, batch-norm statistics far from identity so they matter."""
    torch.manual_seed(0)
    m = build_model("tcm_unet")
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d)):
                mod.running_mean.uniform_(-0.5, 0.5)
                mod.running_var.uniform_(0.5, 2.0)
                mod.weight.uniform_(0.5, 1.5)
                mod.bias.uniform_(-0.2, 0.2)
    return m.eval()


def _offline(model: TCMUNet, x: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        return model(x.unsqueeze(0))[0]


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).norm() / b.norm()).item()


@pytest.mark.parametrize("length", [1, 159, 161, 4_001])
def test_output_length_equals_input(model, length):
    x = torch.randn(2, 1, length)
    with torch.inference_mode():
        assert model(x).shape == (2, 1, length)
        assert model(x[:, 0]).shape == (2, 1, length)


def test_spectral_net_shape(model):
    with torch.inference_mode():
        assert model.net(torch.randn(3, 2, 7, 161)).shape == (3, 2, 7, 161)


def test_framing_reconstructs_input_exactly():
    """With an identity network, STFT -> overlap-add / window envelope is the identity."""
    m = TCMUNet()
    m.net = nn.Identity()
    x = torch.randn(2, 1, 4_001)
    torch.testing.assert_close(m(x), x, atol=1e-5, rtol=0)


def test_causal(model):
    """Output sample n depends on input up to 160 * (n // 160) + 319, so changing input from
    sample t on leaves output before t - (n_fft - 1) = t - 319 unchanged (the 20 ms window)."""
    x = torch.randn(1, 4_001)
    t = 10 * HOP + N_FFT - 1
    y = x.clone()
    y[:, t:] = torch.randn(1, 4_001 - t)
    a, b = _offline(model, x), _offline(model, y)
    margin = N_FFT - 1
    torch.testing.assert_close(a[:, : t - margin], b[:, : t - margin], atol=1e-6, rtol=0)
    assert (a[:, t - margin + 1 :] - b[:, t - margin + 1 :]).abs().max() > 1e-4


@pytest.mark.parametrize(("length", "chunk"), [(4_001, 160), (16_123, 160), (16_123, 97), (4_001, 1_000)])
def test_stream_equals_offline(model, length, chunk):
    torch.manual_seed(length + chunk)
    x = 0.3 * torch.randn(1, length)
    streamed = stream(TCMUNetStreamer(model), x, chunk)
    assert streamed.shape == (1, length)
    assert _rel(streamed, _offline(model, x)) < 1e-5


def test_streamer_hops_and_reuse(model):
    """Output comes a whole hop at a time, one hop late; flush resets for the next signal."""
    streamer = TCMUNetStreamer(model)
    x = 0.3 * torch.randn(1, 1_000)
    assert streamer.feed(x[:, :300]).shape == (1, 0)  # the first hop waits for the second
    assert streamer.feed(x[:, 300:330]).shape == (1, HOP)
    first = torch.cat([streamer.feed(x[:, 330:]), streamer.flush()], dim=1)
    assert first.shape == (1, 1_000 - HOP)
    second = torch.cat([streamer.feed(x), streamer.flush()], dim=1)
    torch.testing.assert_close(first, second[:, HOP:])
    assert _rel(second, _offline(model, x)) < 1e-5


def test_streamer_needs_eval_mode():
    with pytest.raises(ValueError, match="eval"):
        TCMUNetStreamer(TCMUNet())


def test_adam_steps_lower_loss():
    torch.manual_seed(1)
    m = TCMUNet()
    noisy = torch.randn(2, 1, 4_000)
    clean = 0.5 * noisy
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    losses = []
    for _ in range(6):
        loss = (m(noisy) - clean).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0], losses


def test_parameter_count():
    n = count_parameters(TCMUNet())
    print(f"TCMUNet parameters: {n:,}")
    assert n == PARAMETERS


def test_architecture():
    net = TCMUNet().net
    assert len(net.encoder) == 5
    for level in net.encoder:
        assert level.conv.kernel_size == (1, 4) and level.conv.stride == (1, 2)
    assert [level.conv.out_channels for level in net.encoder] == [16, 32, 32, 64, 64]
    assert len(net.decoders) == 2
    for decoder in net.decoders:
        assert len(decoder.levels) == 5
        assert all(level.conv.kernel_size == (1, 4) and level.skip.kernel_size == (1, 1) for level in decoder.levels)
    assert [block.dilation for block in net.tcm] == [1, 2, 4, 8, 16, 32] * 2
    for block in net.tcm:
        assert block.branches.dilation == (block.dilation,)
        assert block.branches.padding == (0,)  # causal padding is added on the left only
