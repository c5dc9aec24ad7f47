"""The streaming protocol: every streamer releases each output sample no later than its
stated latency, and `stream()` gives the offline output for any streaming model."""

from __future__ import annotations

import pytest
import torch

from sepflow.errors import SepflowError
from sepflow.models import build_model
from sepflow.models.streaming import can_stream, make_streamer, stream

STREAMING = [
    ("demucs", {"hidden": 8, "depth": 4, "normalize": False}),
    ("tcm_unet", {"tcm_channels": 32, "tcm_hidden": 8}),
]


@pytest.mark.parametrize(("name", "args"), STREAMING)
def test_latency_is_the_worst_release_delay(name, args):
    torch.manual_seed(0)
    streamer = make_streamer(build_model(name, **args).eval())
    emitted, delays = 0, []
    for n in range(4 * streamer.latency + 3 * streamer.hop):
        out = streamer.feed(torch.randn(1, 1)).shape[1]
        delays += [n - i for i in range(emitted, emitted + out)]
        emitted += out
    assert max(delays) == streamer.latency


def test_tcm_unet_latency_is_two_hops_less_one_sample():
    """A 10 ms hop is complete once the next hop has arrived: 319 samples at 16 kHz."""
    streamer = make_streamer(build_model("tcm_unet").eval())
    assert streamer.latency == 319 and streamer.hop == 160


def test_demucs_dns48_latency_is_763_samples():
    """dns48's worst case: output sample n waits for input n + 763 (module docstring)."""
    streamer = make_streamer(build_model("demucs"))
    assert streamer.latency == 763 and streamer.hop == 256


@pytest.mark.parametrize(("name", "args"), STREAMING)
def test_stream_equals_offline_for_every_streaming_model(name, args):
    torch.manual_seed(1)
    model = build_model(name, **args).eval()
    audio = 0.3 * torch.randn(1, 3_001)
    with torch.no_grad():
        offline = model(audio[None])[0]
    for chunk in (1, 97, 1_000):
        streamed = stream(make_streamer(model), audio, chunk)
        assert streamed.shape == offline.shape
        assert ((streamed - offline).norm() / offline.norm()).item() < 1e-5


def test_a_non_causal_model_cannot_stream():
    model = build_model("demucs", hidden=4, causal=False)
    assert not can_stream(model)
    with pytest.raises(SepflowError, match="cannot stream"):
        make_streamer(model)
