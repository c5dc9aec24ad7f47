"""Identities of the level, gain, SNR and I/O helpers."""

import numpy as np
import pytest
import soundfile as sf

from sepflow.audio import (
    apply_gain_db,
    mix_at_snr,
    normalize_rms,
    read_audio,
    resample,
    rms_db,
    si_snr,
    snr_db,
    write_audio,
)
from sepflow.errors import SepflowError


@pytest.fixture
def noise():
    return np.random.default_rng(0).normal(0, 0.1, 16000).astype(np.float32)


def test_full_scale_sine_is_minus_3_db():
    t = np.arange(16000) / 16000
    assert rms_db(np.sin(2 * np.pi * 440 * t)) == pytest.approx(-3.0103, abs=1e-3)


@pytest.mark.parametrize("gain", [-20.0, -3.5, 0.0, 6.0])
def test_gain_adds_in_db(noise, gain):
    assert rms_db(apply_gain_db(noise, gain)) == pytest.approx(rms_db(noise) + gain, abs=1e-4)


@pytest.mark.parametrize("target", [-40.0, -25.0, -10.0])
def test_normalize_hits_target(noise, target):
    assert rms_db(normalize_rms(noise, target)) == pytest.approx(target, abs=1e-4)


def test_normalize_leaves_silence_silent():
    assert not normalize_rms(np.zeros(100), -20).any()


@pytest.mark.parametrize("snr", [-5.0, 0.0, 7.5, 20.0])
def test_mixture_has_the_asked_snr(noise, snr):
    clean = np.sin(np.linspace(0, 300, 16000)).astype(np.float32) * 0.3
    mixture, scaled = mix_at_snr(clean, noise[:5000], snr)
    assert mixture.shape == clean.shape
    assert snr_db(clean, scaled) == pytest.approx(snr, abs=1e-3)
    np.testing.assert_allclose(mixture - clean, scaled, atol=1e-6)


def test_mixing_silent_noise_is_refused():
    with pytest.raises(ValueError, match="silent"):
        mix_at_snr(np.ones(10), np.zeros(10), 0)


def test_si_snr_is_scale_invariant_and_matches_snr(noise):
    clean = np.sin(np.linspace(0, 900, 16000)) * 0.5
    assert si_snr(3.0 * clean, clean) > 100
    scaled = noise * np.sqrt(np.mean(clean**2) / np.mean(noise**2)) * 10 ** (-10 / 20)
    assert si_snr(clean + scaled, clean) == pytest.approx(10.0, abs=0.2)


def test_write_read_roundtrip_and_rate_check(tmp_path, noise):
    path = write_audio(tmp_path / "a.wav", noise, 16000)
    audio, sr = read_audio(path, expected_sr=16000)
    assert sr == 16000 and audio.shape == (1, 16000)
    np.testing.assert_allclose(audio[0], noise, atol=1 / 32768)
    with pytest.raises(SepflowError, match=r"a\.wav has sample rate 16000 Hz, expected 8000"):
        read_audio(path, expected_sr=8000)


def test_corrupt_and_missing_files_name_the_file(tmp_path, noise):
    path = write_audio(tmp_path / "cut.wav", noise, 16000)
    path.write_bytes(path.read_bytes()[:30])
    with pytest.raises(SepflowError, match="cut.wav"):
        read_audio(path)
    with pytest.raises(SepflowError, match="not found: .*nope.wav"):
        read_audio(tmp_path / "nope.wav")


def test_nan_audio_is_refused(tmp_path):
    path = tmp_path / "nan.wav"
    sf.write(path, np.array([0.0, np.nan, 0.1], dtype=np.float32), 16000, subtype="FLOAT")
    with pytest.raises(SepflowError, match="NaN"):
        read_audio(path)
    with pytest.raises(SepflowError, match="NaN"):
        write_audio(tmp_path / "out.wav", np.array([np.nan]), 16000)
    assert not (tmp_path / "out.wav").exists()


def test_resample_keeps_a_tone(noise):
    t = np.arange(48000) / 48000
    tone = np.sin(2 * np.pi * 1000 * t).astype(np.float32)
    out = resample(tone, 48000, 16000)
    assert out.shape == (16000,)
    spectrum = np.abs(np.fft.rfft(out))
    assert np.argmax(spectrum) == 1000


def test_resample_to_a_length_cuts_or_zero_pads_the_end(noise):
    stereo = np.stack([noise[:4410], -noise[:4410]])
    there = resample(stereo, 44100, 48000)
    back = resample(there, 48000, 44100, length=4410)
    assert back.shape == (2, 4410)
    np.testing.assert_array_equal(resample(there, 48000, 44100, length=4407), back[:, :4407])
    padded = resample(there, 48000, 44100, length=4413)
    np.testing.assert_array_equal(padded[:, :4410], back)
    np.testing.assert_array_equal(padded[:, 4410:], 0)
