"""Losses: zero on identical inputs, exact values on simple inputs, finite gradients on silence."""

from __future__ import annotations

import math

import pytest
import torch

from sepflow.audio.stft import stft
from sepflow.errors import SepflowError
from sepflow.losses import LOSSES, build_loss
from sepflow.losses.spectral import ComplexMagnitudeLoss, MagnitudeMSELoss
from sepflow.losses.stft import L1MultiResolutionSTFTLoss, MultiResolutionSTFTLoss
from sepflow.losses.time import L1Loss

LENGTH = 4000  # longer than half the largest FFT (2048), as torch.stft's reflect padding needs


@pytest.fixture
def signal() -> torch.Tensor:
    return torch.randn(2, 1, LENGTH, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_zero_for_identical_inputs_and_positive_otherwise(name, signal):
    loss = build_loss(name)
    assert loss(signal, signal.clone()).item() == 0.0
    assert loss(0.5 * signal, signal).item() > 0.0
    assert loss(signal + 0.1 * torch.randn_like(signal), signal).item() > 0.0


@pytest.mark.parametrize("name", sorted(LOSSES))
@pytest.mark.parametrize("target_kind", ["silent", "noise"])
def test_gradients_are_finite_for_a_silent_estimate(name, target_kind, signal):
    target = torch.zeros_like(signal) if target_kind == "silent" else signal
    estimate = torch.zeros_like(signal, requires_grad=True)
    value = build_loss(name)(estimate, target)
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
