"""Losses: zero on identical inputs, exact values on simple inputs, finite gradients on silence;
the STOI loss against pystoi, and a sum of terms against its parts."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import scipy.signal
import soundfile as sf
import torch
from pystoi import stoi
from pystoi.utils import resample_oct

from sepflow.audio.stft import stft
from sepflow.errors import SepflowError
from sepflow.losses import LOSSES, build_loss
from sepflow.losses.spectral import ComplexMagnitudeLoss, MagnitudeMSELoss
from sepflow.losses.stft import L1MultiResolutionSTFTLoss, MultiResolutionSTFTLoss
from sepflow.losses.stoi import OctaveResampler, STOILoss
from sepflow.losses.time import L1Loss

LENGTH = 8000  # longer than half the largest FFT (2048), and than STOI's 30 frames (6349 samples)
SR = 16000
TESTDATA = Path(__file__).parents[1] / "data" / "pesq"
ARGS = {"sum": {"terms": [{"name": "l1", "weight": 0.5}, {"name": "stoi"}]}}
SCALE_INVARIANT = {"stoi"}  # STOI normalises each segment's level: a scaled estimate is perfect


@pytest.fixture
def signal() -> torch.Tensor:
    return torch.randn(2, 1, LENGTH, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_zero_for_identical_inputs_and_positive_otherwise(name, signal):
    loss = build_loss(name, SR, **ARGS.get(name, {}))
    assert loss(signal, signal.clone()).item() == pytest.approx(0.0, abs=1e-6)
    assert (loss(0.5 * signal, signal).item() > 0.0) != (name in SCALE_INVARIANT)
    assert loss(signal + 0.1 * torch.randn_like(signal), signal).item() > 0.0


@pytest.mark.parametrize("name", sorted(LOSSES))
@pytest.mark.parametrize("target_kind", ["silent", "noise"])
def test_gradients_are_finite_for_a_silent_estimate(name, target_kind, signal):
    target = torch.zeros_like(signal) if target_kind == "silent" else signal
    estimate = torch.zeros_like(signal, requires_grad=True)
    value = build_loss(name, SR, **ARGS.get(name, {}))(estimate, target)
    value.backward()
    assert torch.isfinite(value)
    assert torch.isfinite(estimate.grad).all()


def test_l1_of_constants_is_their_distance():
    assert L1Loss()(torch.full((2, 1, 100), 3.0), torch.full((2, 1, 100), 1.0)).item() == pytest.approx(2.0)


@pytest.mark.parametrize("scale", [0.25, 0.7, 1.5])
def test_spectral_convergence_of_a_scaled_signal_is_one_minus_scale(scale, signal):
    loss = MultiResolutionSTFTLoss(factor_sc=1.0, factor_mag=0.0)
    assert loss(scale * signal, signal).item() == pytest.approx(abs(1 - scale), rel=1e-4)


@pytest.mark.parametrize("scale", [0.25, 0.7, 1.5])
def test_log_magnitude_distance_of_a_scaled_signal_is_log_scale(scale, signal):
    loss = MultiResolutionSTFTLoss(factor_sc=0.0, factor_mag=1.0)
    assert loss(scale * signal, signal).item() == pytest.approx(abs(math.log(scale)), rel=1e-4)


def test_l1_mrstft_is_the_weighted_sum_of_its_parts(signal):
    estimate = signal + 0.3 * torch.randn_like(signal)
    combined = L1MultiResolutionSTFTLoss(alpha=0.5, beta=2.0, factor_sc=0.5)(estimate, signal)
    parts = 0.5 * L1Loss()(estimate, signal) + 2.0 * MultiResolutionSTFTLoss(factor_sc=0.5)(estimate, signal)
    assert combined.item() == pytest.approx(parts.item(), rel=1e-6)


def test_mrstft_rejects_mismatched_resolution_lists():
    with pytest.raises(ValueError, match="same length"):
        MultiResolutionSTFTLoss(fft_sizes=[512, 1024], hop_sizes=[128], win_lengths=[512])


def test_mrstft_names_the_fix_for_too_short_segments():
    with pytest.raises(SepflowError, match="at least 1025 samples"):
        MultiResolutionSTFTLoss()(torch.zeros(1, 1, 1000), torch.zeros(1, 1, 1000))


def test_magnitude_mse_of_a_scaled_signal(signal):
    power = stft(signal, 512, 128).abs().square().mean()
    expected = (1 - 0.6) ** 2 * power
    assert MagnitudeMSELoss()(0.6 * signal, signal).item() == pytest.approx(expected.item(), rel=1e-4)


def test_magnitude_mse_ignores_a_sign_flip_but_the_complex_loss_does_not(signal):
    """-x has the magnitudes of x and the opposite complex spectrum: only the phase term sees it."""
    assert MagnitudeMSELoss()(-signal, signal).item() == pytest.approx(0.0, abs=1e-6)
    spec = torch.view_as_real(stft(signal, 320, 160))
    expected = 0.3 * (2 * spec).square().mean()
    assert ComplexMagnitudeLoss()(-signal, signal).item() == pytest.approx(expected.item(), rel=1e-4)


def test_complex_weight_must_be_a_fraction():
    with pytest.raises(ValueError, match="complex_weight"):
        ComplexMagnitudeLoss(complex_weight=1.5)


def test_stft_window_cached_in_inference_mode_still_trains():
    from sepflow.audio.stft import stft as cached_stft

    with torch.inference_mode():
        cached_stft(torch.randn(1, 4000), 384, 96)  # first use of this window size, at evaluation
    x = torch.randn(1, 4000, requires_grad=True)
    cached_stft(x, 384, 96).abs().sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


def _reference_pair() -> tuple[np.ndarray, np.ndarray]:
    """The pesq package's reference utterance, clean and in babble at 0 dB (16 kHz)."""
    clean, _ = sf.read(TESTDATA / "speech.wav", dtype="float32")
    noisy, _ = sf.read(TESTDATA / "speech_bab_0dB.wav", dtype="float32")
    n = min(len(clean), len(noisy))
    return clean[:n], noisy[:n]


def _degraded(clean: np.ndarray, noisy: np.ndarray, kind: str) -> np.ndarray:
    rng = np.random.default_rng(0)
    if kind == "babble":
        return noisy
    if kind == "white":
        return clean + rng.standard_normal(len(clean)).astype(np.float32) * clean.std()
    if kind == "lowpass":  # 2 kHz: removes the upper STOI bands
        return scipy.signal.sosfiltfilt(scipy.signal.butter(8, 2000, fs=SR, output="sos"), clean).astype(np.float32)
    return np.where(np.abs(clean) > 0.02, clean, 0.0).astype(np.float32)  # hard gating of weak parts


@pytest.mark.parametrize("kind", ["babble", "white", "lowpass", "gated"])
def test_stoi_loss_is_one_minus_pystoi(kind):
    """Its two departures from pystoi (FFT resampling, frame-wise silence removal) cost < 0.01."""
    clean, noisy = _reference_pair()
    estimate = _degraded(clean, noisy, kind)
    expected = stoi(clean, estimate, SR)
    got = 1 - STOILoss(SR)(torch.from_numpy(estimate)[None, None], torch.from_numpy(clean)[None, None]).item()
    assert got == pytest.approx(expected, abs=0.01)


def test_stoi_loss_at_44100_hz_matches_pystoi_at_that_rate():
    clean, noisy = _reference_pair()
    clean, noisy = (scipy.signal.resample_poly(x, 441, 160).astype(np.float32) for x in (clean, noisy))
    got = 1 - STOILoss(44100)(torch.from_numpy(noisy)[None, None], torch.from_numpy(clean)[None, None]).item()
    assert got == pytest.approx(stoi(clean, noisy, 44100), abs=0.01)


def test_stoi_loss_averages_items_and_channels():
    clean, noisy = (torch.from_numpy(x) for x in _reference_pair())
    loss = STOILoss(SR)
    one = loss(noisy[None, None], clean[None, None])
    perfect = loss(clean[None, None], clean[None, None])
    stereo = loss(torch.stack([noisy, clean])[None], torch.stack([clean, clean])[None])
    batch = loss(torch.stack([noisy, clean])[:, None], torch.stack([clean, clean])[:, None])
    assert stereo.item() == pytest.approx(batch.item()) == pytest.approx((one + perfect).item() / 2)


def test_stoi_loss_names_the_fix_for_too_short_segments():
    with pytest.raises(SepflowError, match="at least 6349 samples.*raise the training segment"):
        STOILoss(SR)(torch.zeros(1, 1, 6000), torch.zeros(1, 1, 6000))


def test_stoi_loss_gradient_raises_pystoi_stoi():
    """A few gradient steps on per-sample gains of a noisy estimate raise the real STOI."""
    clean, noisy = (torch.from_numpy(x[: 2 * SR]) for x in _reference_pair())
    loss = STOILoss(SR)
    gain = torch.ones_like(noisy, requires_grad=True)
    optimizer = torch.optim.Adam([gain], lr=0.05)
    before = stoi(clean.numpy(), noisy.numpy(), SR)
    for _ in range(20):
        optimizer.zero_grad()
        loss((gain * noisy)[None, None], clean[None, None]).backward()
        optimizer.step()
    after = stoi(clean.numpy(), (gain * noisy).detach().numpy(), SR)
    assert after > before + 0.02, (before, after)


def test_sum_is_the_weighted_sum_of_its_terms(signal):
    estimate = signal + 0.3 * torch.randn_like(signal)
    terms = [{"name": "l1_mrstft", "beta": 0.05, "weight": 2.0}, {"name": "stoi", "weight": 0.3}]
    combined = build_loss("sum", SR, terms=terms)(estimate, signal)
    parts = 2.0 * L1MultiResolutionSTFTLoss(beta=0.05)(estimate, signal) + 0.3 * STOILoss(SR)(estimate, signal)
    assert combined.item() == pytest.approx(parts.item(), rel=1e-6)


@pytest.mark.parametrize(
    "terms, says",
    [
        ([], "terms is empty"),
        (["l1"], r"terms\[0\] is 'l1'; give each term as \{name: ..., weight: ...\}"),
        ([{"name": "l1"}, {"name": "stoy"}], r"terms\[1\]: unknown loss 'stoy'"),
        ([{"name": "l1_mrstft", "alpah": 1}], r"terms\[0\]: .*'alpah' for loss 'l1_mrstft'"),
        ([{"name": "l1", "weight": "half"}], r"terms\[0\].weight: 'half' is not a number"),
    ],
)
def test_sum_names_the_bad_term(terms, says):
    with pytest.raises(SepflowError, match=says):
        build_loss("sum", SR, terms=terms)


@pytest.mark.parametrize(
    "sample_rate, length", [(16000, 16000), (16000, 12345), (44100, 44100), (8000, 8001), (48000, 9999)]
)
def test_the_stoi_loss_resamples_as_pystoi_does(sample_rate, length):
    """The polyphase convolution is pystoi's resample_oct (scipy's resample_poly with its filter)."""
    x = np.random.default_rng(0).standard_normal(length)
    got = OctaveResampler(sample_rate, 10000).double()(torch.from_numpy(x)[None])[0].numpy()
    np.testing.assert_allclose(got, resample_oct(x, 10000, sample_rate), atol=1e-6)
