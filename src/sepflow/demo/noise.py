"""Synthesized background noises, one generator per type, all seeded by the caller's rng.

The types cover the usual corruptions an enhancement model meets: stationary broadband
(white, pink, brown), competing talkers (babble), tonal (mains hum), modulated low-frequency
(machinery), sparse transients (impulsive), and structured harmonic sound (music).
Every generator returns float32 mono of exactly `n` samples at NOISE_LEVEL_DB dBFS RMS.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from scipy import signal

from sepflow.audio import normalize_rms
from sepflow.demo.sentences import make_sentence
from sepflow.demo.speech import Speaker, synthesize_speech

NOISE_LEVEL_DB = -25.0


def _coloured(rng: np.random.Generator, n: int, sr: int, exponent: float) -> np.ndarray:
    """Gaussian noise with power spectrum ~ 1/f**exponent above 20 Hz (0 white, 1 pink, 2 brown)."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.maximum(np.fft.rfftfreq(n, 1.0 / sr), 20.0)
    spectrum *= freqs ** (-exponent / 2.0)
    spectrum[0] = 0.0
    return np.fft.irfft(spectrum, n)


def _unit_rms(x: np.ndarray) -> np.ndarray:
    return x / (np.sqrt(np.mean(x**2)) + 1e-12)


def white(rng, n, sr, talkers=()):
    return _coloured(rng, n, sr, 0.0)


def pink(rng, n, sr, talkers=()):
    return _coloured(rng, n, sr, 1.0)


def brown(rng, n, sr, talkers=()):
    return _coloured(rng, n, sr, 2.0)


def hum(rng, n, sr, talkers=()):
    """Mains hum: 50 or 60 Hz with slowly wandering frequency and a random harmonic profile."""
    t = np.arange(n) / sr
    mains = float(rng.choice([50.0, 60.0])) * (1.0 + rng.uniform(-0.005, 0.005))
    drift = 1.0 + 0.002 * np.sin(2 * np.pi * rng.uniform(0.05, 0.3) * t)
    phase = 2 * np.pi * mains * np.cumsum(drift) / sr
    out = np.zeros(n)
    for k in range(1, int(min(20, (sr / 2 - 50) // mains)) + 1):
        weight = k ** -rng.uniform(0.5, 1.5) * (2.0 if k % 2 == 0 else 1.0)  # transformers buzz at 2x mains
        out += weight * np.sin(k * phase + rng.uniform(0, 2 * np.pi))
    return out + 0.03 * np.sqrt(np.mean(out**2)) * _unit_rms(_coloured(rng, n, sr, 1.0))


def machinery(rng, n, sr, talkers=()):
    """Rotating machines: low tones and band-limited noise, amplitude-modulated at the rotation rate."""
    t = np.arange(n) / sr
    rotation = rng.uniform(2.0, 25.0)
    modulation = 1.0 + rng.uniform(0.3, 0.9) * np.sin(2 * np.pi * rotation * t + rng.uniform(0, 2 * np.pi))
    tones = sum(
        rng.uniform(0.3, 1.0) * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))
        for f in rng.uniform(25.0, 180.0, size=int(rng.integers(2, 5)))
    )
    low, high = rng.uniform(80.0, 300.0), rng.uniform(800.0, 2500.0)
    band = signal.sosfilt(
        signal.butter(4, [low, min(high, 0.45 * sr)], "bandpass", fs=sr, output="sos"), rng.standard_normal(n)
    )
    band = _unit_rms(band) * np.sqrt(np.mean(tones**2)) * rng.uniform(0.3, 1.0)
    return (tones + band) * modulation


def impulsive(rng, n, sr, talkers=()):
    """Clicks and knocks at random times over a faint pink floor."""
    out = 0.02 * _unit_rms(_coloured(rng, n, sr, 1.0))
    n_events = max(1, rng.poisson(rng.uniform(1.0, 6.0) * n / sr))
    for start in np.sort(rng.integers(0, n, size=n_events)):
        if rng.random() < 0.5:  # click: a few ms of decaying noise
            length = int(sr * rng.uniform(0.001, 0.006))
            event = rng.standard_normal(length) * np.exp(-np.arange(length) / (0.3 * length))
        else:  # knock: a damped low resonance
            length = int(sr * rng.uniform(0.03, 0.15))
            tau = rng.uniform(0.01, 0.05) * sr
            event = np.sin(2 * np.pi * rng.uniform(80, 600) * np.arange(length) / sr) * np.exp(-np.arange(length) / tau)
        stop = min(n, start + event.size)
        out[start:stop] += rng.uniform(0.3, 1.0) * event[: stop - start]
    return out


def music(rng, n, sr, talkers=()):
    """Notes and chords from a random scale, harmonic tones with plucked envelopes."""
    out = np.zeros(n)
    root = rng.uniform(110.0, 220.0)
    scale = np.array([0, 2, 4, 5, 7, 9, 11, 12, 14, 16])
    position = 0
    while position < n:
        length = int(sr * rng.uniform(0.15, 0.6))
        t = np.arange(min(length * 2, n - position)) / sr
        envelope = np.minimum(t / rng.uniform(0.005, 0.03), 1.0) * np.exp(-t / rng.uniform(0.1, 0.5))
        for step in rng.choice(scale, size=int(rng.integers(1, 4)), replace=False):
            freq = root * 2 ** (step / 12)
            partials = sum(k**-1.5 * np.sin(2 * np.pi * k * freq * t) for k in range(1, 6) if k * freq < sr / 2)
            out[position : position + t.size] += envelope * partials
        position += length
    return out


def babble(rng, n, sr, talkers: Sequence[Speaker] = ()):
    """Three to six eSpeak talkers speaking at once, each at the same level."""
    if not talkers:
        raise ValueError("babble needs at least one talker")
    seconds = n / sr
    out = np.zeros(n)
    for _ in range(int(rng.integers(3, 7))):
        speaker = talkers[int(rng.integers(len(talkers)))]
        text = make_sentence(rng, int(seconds * speaker.rate / 60) + 2)
        voice = synthesize_speech(text, speaker, sr, seed=int(rng.integers(2**31)))
        voice = np.tile(voice, int(np.ceil(n / max(voice.size, 1))) + 1)
        voice = np.roll(voice, -int(rng.integers(voice.size)))[:n]
        out += _unit_rms(voice)
    return out


GENERATORS: dict[str, Callable[..., np.ndarray]] = {
    "white": white,
    "pink": pink,
    "brown": brown,
    "babble": babble,
    "hum": hum,
    "machinery": machinery,
    "impulsive": impulsive,
    "music": music,
}


def make_noise(
    kind: str, rng: np.random.Generator, n: int, sample_rate: int, talkers: Sequence[Speaker] = ()
) -> np.ndarray:
    """`n` samples of noise type `kind` at NOISE_LEVEL_DB; `talkers` feed babble."""
    raw = GENERATORS[kind](rng, n, sample_rate, talkers)
    return normalize_rms(np.asarray(raw, dtype=np.float32), NOISE_LEVEL_DB)
