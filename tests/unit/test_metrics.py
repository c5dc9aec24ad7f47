"""Per-item speech metrics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from sepflow.audio import mix_at_snr, read_audio, si_snr, write_audio
from sepflow.errors import SepflowError
from sepflow.metrics.speech import pesq_nb, pesq_wb, speech_metrics, stoi

PESQ_DIR = Path(__file__).resolve().parents[1] / "data" / "pesq"
SR = 16000


@pytest.fixture(scope="module")
def reference_pair() -> tuple[np.ndarray, np.ndarray]:
    """Clean speech and the same speech in babble at 0 dB, from python-pesq."""
    clean, _ = read_audio(PESQ_DIR / "speech.wav", expected_sr=SR)
    noisy, _ = read_audio(PESQ_DIR / "speech_bab_0dB.wav", expected_sr=SR)
    return clean[0], noisy[0]


# --- per-item metrics -------------------------------------------------------------------


def test_pesq_matches_the_published_values(reference_pair):
    clean, noisy = reference_pair
    assert pesq_wb(clean, noisy, SR) == pytest.approx(1.0832337141036987, abs=1e-6)
    assert pesq_nb(clean, noisy, SR) == pytest.approx(1.6072081327438354, abs=1e-6)


def test_pesq_of_a_signal_against_itself_is_the_maximum(reference_pair):
    clean, _ = reference_pair
    assert pesq_wb(clean, clean, SR) == pytest.approx(4.64, abs=0.01)


def test_pesq_of_a_silent_estimate_is_nan_not_a_crash(reference_pair):
    clean, _ = reference_pair
    assert np.isnan(pesq_wb(clean, np.zeros_like(clean), SR))


def test_stoi_is_one_for_identical_signals_and_low_for_independent_noise(reference_pair):
    clean, noisy = reference_pair
    noise = np.random.default_rng(0).standard_normal(clean.size)
    assert stoi(clean, clean, SR) == pytest.approx(1.0, abs=1e-6)
    assert stoi(clean, noise, SR) < 0.5 < stoi(clean, noisy, SR)


def test_stoi_is_nan_when_the_reference_is_too_short(reference_pair):
    clean, noisy = reference_pair
    assert np.isnan(stoi(clean[:4000], noisy[:4000], SR))


def test_si_snr_of_a_scaled_copy_is_very_high_and_scale_invariant(reference_pair):
    clean, noisy = reference_pair
    assert si_snr(0.3 * clean, clean) > 80.0
    assert si_snr(5.0 * noisy, clean) == pytest.approx(si_snr(noisy, clean), abs=1e-6)


@pytest.mark.parametrize("snr", [-5.0, 0.0, 5.0, 10.0])
def test_si_snr_of_a_mixture_equals_its_snr(reference_pair, snr):
    clean, _ = reference_pair
    noise = np.random.default_rng(1).standard_normal(clean.size).astype(np.float32)
    mixture, _ = mix_at_snr(clean, noise, snr)
    assert si_snr(mixture, clean) == pytest.approx(snr, abs=0.1)


def test_speech_metrics_reports_the_improvement_over_the_input(reference_pair):
    clean, noisy = reference_pair
    estimate = clean + 0.2 * (noisy - clean)
    scores = speech_metrics(clean, estimate, noisy, SR)
    assert set(scores) == {"pesq", "stoi", "si_snr", "si_snr_noisy", "si_snr_i"}
    assert scores["si_snr_i"] == pytest.approx(scores["si_snr"] - scores["si_snr_noisy"])
    assert scores["si_snr_i"] > 10.0
    assert scores["pesq"] > pesq_wb(clean, noisy, SR)


def test_speech_metrics_refuses_unaligned_signals(reference_pair):
    clean, noisy = reference_pair
    with pytest.raises(ValueError, match="length"):
        speech_metrics(clean, clean[:-10], noisy, SR)
