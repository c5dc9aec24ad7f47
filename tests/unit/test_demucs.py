"""Demucs: compatibility with facebookresearch/denoiser checkpoints, shapes, causality,
streaming equal to offline, and a short training run."""

from __future__ import annotations

import math

import pytest
import torch

from sepflow.models import build_model, count_parameters
from sepflow.models.demucs import Demucs
from sepflow.models.demucs_stream import DemucsStreamer
from sepflow.models.resample import downsample2, upsample2
from sepflow.models.streaming import stream


def denoiser_shapes(
    hidden: int, causal: bool = True, depth: int = 5, kernel_size: int = 8, growth: float = 2
) -> list[tuple[str, tuple[int, ...]]]:
    """(name, shape) of denoiser's Demucs (mono, GLU) state dict, in its order, written from
    its layer formula: channels start at `hidden` and grow by `growth` per layer; each
    encoder layer is Conv1d(k, stride) then a 1x1 Conv1d to twice the channels (GLU); each
    decoder layer mirrors it with a ConvTranspose1d; a 2-layer LSTM (bidirectional plus a
    Linear back to the width when not causal) sits in the middle."""
    encoder, decoder = [], []
    chin = chout = 1
    for index in range(depth):
        encoder += [
            (f"encoder.{index}.0.weight", (hidden, chin, kernel_size)),
            (f"encoder.{index}.0.bias", (hidden,)),
            (f"encoder.{index}.2.weight", (2 * hidden, hidden, 1)),
            (f"encoder.{index}.2.bias", (2 * hidden,)),
        ]
        level = depth - 1 - index  # the decoder runs from the innermost layer out
        decoder = [
            (f"decoder.{level}.0.weight", (2 * hidden, hidden, 1)),
            (f"decoder.{level}.0.bias", (2 * hidden,)),
            (f"decoder.{level}.2.weight", (hidden, chout, kernel_size)),
            (f"decoder.{level}.2.bias", (chout,)),
        ] + decoder
        chin = chout = hidden
        hidden = int(growth * hidden)
    dim = chin
    lstm = []
    for layer in range(2):
        for suffix in ("",) if causal else ("", "_reverse"):
            width = dim if layer == 0 or causal else 2 * dim
            lstm += [
                (f"lstm.lstm.weight_ih_l{layer}{suffix}", (4 * dim, width)),
                (f"lstm.lstm.weight_hh_l{layer}{suffix}", (4 * dim, dim)),
                (f"lstm.lstm.bias_ih_l{layer}{suffix}", (4 * dim,)),
                (f"lstm.lstm.bias_hh_l{layer}{suffix}", (4 * dim,)),
            ]
    if not causal:
        lstm += [("lstm.linear.weight", (dim, 2 * dim)), ("lstm.linear.bias", (dim,))]
    return encoder + decoder + lstm


# The published models (denoiser/pretrained.py) and their exact parameter counts, counted
# with denoiser's own Demucs; the paper rounds them to 18.87 M and 33.53 M.
PUBLISHED = {
    "dns48": (dict(hidden=48), 18_867_937),
    "dns64": (dict(hidden=64), 33_533_569),
    "master64": (dict(hidden=64), 33_533_569),
    "valentini_nc": (dict(hidden=64, causal=False, stride=2, resample=2), 60_813_953),
}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_published_checkpoints_load(name):
    args, count = PUBLISHED[name]
    model = Demucs(**args)
    expected = denoiser_shapes(args["hidden"], causal=args.get("causal", True))
    assert [(k, tuple(v.shape)) for k, v in model.state_dict().items()] == expected
    assert count_parameters(model) == sum(math.prod(shape) for _, shape in expected) == count
    checkpoint = {k: torch.randn(shape) for k, shape in expected}
    model.load_state_dict(checkpoint, strict=True)


def test_parameter_counts_match_the_paper():
    assert round(PUBLISHED["dns48"][1] / 1e6, 2) == 18.87
    assert round(PUBLISHED["dns64"][1] / 1e6, 2) == 33.53


def test_arguments_are_json_and_registered():
    model = build_model("demucs", hidden=4, depth=2, causal=False)
    assert isinstance(model, Demucs) and not model.causal
    assert model.sample_rate == 16_000


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("length", [1, 777, 16001])
def test_output_length_equals_input_length(causal, length):
    torch.manual_seed(0)
    model = Demucs(hidden=4, causal=causal)
    with torch.no_grad():
        out = model(torch.randn(2, 1, length))
        flat = model(torch.randn(2, length))  # (batch, time) is one channel
    assert out.shape == (2, 1, length) and flat.shape == (2, 1, length)
    assert torch.isfinite(out).all()


def test_causal_up_to_the_resampler_and_frame_lookahead():
    """Changing the input from sample t on leaves the output before t - margin unchanged.

    The causal model still looks ahead: an innermost frame spans valid_length(1) = 597
    input samples and every output sample inside it waits for the whole frame; the two sinc
    upsamplers read 56 + 56 / 2 = 84 samples ahead and the two downsamplers 333 / 4 -> 84.
    The exact worst case is 763 samples (47.7 ms at 16 kHz); the margin here is 765.
    """
    torch.manual_seed(0)
    model = Demucs(hidden=8, normalize=False)  # a global std would couple every sample
    margin = model.valid_length(1) + 84 + 84
    x = torch.randn(1, 1, 6000)
    with torch.no_grad():
        base = model(x)
        for t in (3000, 3101, 3333):
            changed = x.clone()
            changed[..., t:] += torch.randn(1, 1, 6000 - t)
            out = model(changed)
            assert torch.equal(out[..., : t - margin], base[..., : t - margin])
            assert not torch.equal(out[..., t - margin : t], base[..., t - margin : t])


def test_sinc_resampling_round_trip_keeps_a_band_limited_signal():
    t = torch.arange(4000) / 16_000
    tone = torch.sin(2 * math.pi * 440 * t)[None]
    up = upsample2(tone)
    assert up.shape == (1, 8000) and torch.equal(up[:, ::2], tone)
    middle = slice(200, -200)  # away from the zero padding at the edges
    assert (downsample2(up) - tone)[:, middle].abs().max() < 1e-3
    assert downsample2(tone[:, :-1]).shape == (1, 2000)  # odd lengths pad one zero


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).norm() / b.norm()).item()


@pytest.mark.parametrize(
    "args, num_frames",
    [
        (dict(hidden=8), 1),
        (dict(hidden=8, normalize=False), 1),
        (dict(hidden=8, resample=2, depth=4), 2),
        (dict(hidden=8, resample=1, stride=2, kernel_size=5, depth=4), 1),
        (dict(hidden=8, chin=2, chout=2), 1),
    ],
)
@pytest.mark.parametrize("length", [777, 4001, "valid"])
def test_stream_equals_offline(args, num_frames, length):
    torch.manual_seed(0)
    model = Demucs(**args)
    if length == "valid":  # no zero padding: the resamplers' edges reach the last samples
        length = model.valid_length(3000)
    audio = torch.randn(model.chin, length)
    std = audio.mean(0).std().item()  # what the offline model normalises by
    with torch.no_grad():
        offline = model(audio[None])[0]
    hop = DemucsStreamer(model, num_frames=num_frames).stride
    for chunk in (hop, 333) if length > 1000 else (1, hop, 333):
        streamed = stream(DemucsStreamer(model, num_frames=num_frames, std=std), audio, chunk)
        assert streamed.shape == offline.shape
        assert relative_error(streamed, offline) < 1e-5, chunk


def test_streamer_dry_mix_and_reuse_after_flush():
    torch.manual_seed(0)
    model = Demucs(hidden=8, normalize=False)
    audio = torch.randn(1, 3000)
    with torch.no_grad():
        offline = model(audio[None])[0]
    streamer = DemucsStreamer(model, dry=0.25)
    for _ in range(2):  # flush leaves the streamer ready for the next recording
        out = torch.cat([streamer.feed(audio[:, :1234]), streamer.feed(audio[:, 1234:]), streamer.flush()], dim=1)
        assert relative_error(out, 0.25 * audio + 0.75 * offline) < 1e-5


def test_streamer_running_std_stays_close_to_offline():
    """Without a fixed std the stream normalises by the std of the input so far, which is
    what a live stream can know; on a stationary signal it ends near the offline output."""
    torch.manual_seed(0)
    model = Demucs(hidden=8)
    audio = 0.1 * torch.randn(1, 8000)
    with torch.no_grad():
        offline = model(audio[None])[0]
    streamed = stream(DemucsStreamer(model), audio, 256)
    assert streamed.shape == offline.shape
    assert relative_error(streamed[:, 4000:], offline[:, 4000:]) < 0.02


def test_streaming_needs_a_causal_model():
    with pytest.raises(ValueError, match="causal"):
        DemucsStreamer(Demucs(hidden=4, causal=False))


def test_a_few_adam_steps_lower_the_l1_loss():
    torch.manual_seed(0)
    model = Demucs(hidden=8, depth=3)
    clean = torch.randn(4, 1, 2000)
    noisy = clean + 0.5 * torch.randn_like(clean)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(15):
        loss = (model(noisy) - clean).abs().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.85 * losses[0], losses
