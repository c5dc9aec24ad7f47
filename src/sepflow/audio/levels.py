"""Levels in dB, gains, SNR and mixing at a target SNR.

Levels are RMS in dB relative to full scale (a full-scale square wave is 0 dB). EPS keeps
silence finite (about -200 dB) instead of -inf, so arithmetic on levels never yields NaN.
"""

from __future__ import annotations

import numpy as np

EPS = 1e-10


def rms_db(audio: np.ndarray) -> float:
    """RMS level in dBFS over all channels and samples."""
    audio = np.asarray(audio, dtype=np.float64)
    return float(10.0 * np.log10(np.mean(audio**2) + EPS**2))


def apply_gain_db(audio: np.ndarray, gain_db: float) -> np.ndarray:
    """Scale by a gain in dB."""
    return (np.asarray(audio) * 10.0 ** (gain_db / 20.0)).astype(np.float32)


def normalize_rms(audio: np.ndarray, target_db: float) -> np.ndarray:
    """Scale so the RMS level is target_db dBFS; silence stays silence."""
    level = rms_db(audio)
    if level <= 20.0 * np.log10(EPS) + 1.0:
        return np.asarray(audio, dtype=np.float32)
    return apply_gain_db(audio, target_db - level)


def snr_db(signal: np.ndarray, noise: np.ndarray) -> float:
    """Signal-to-noise ratio of two components in dB."""
    return rms_db(signal) - rms_db(noise)


def mix_at_snr(clean: np.ndarray, noise: np.ndarray, snr: float) -> tuple[np.ndarray, np.ndarray]:
    """Scale noise so clean / noise is `snr` dB; return (mixture, scaled noise).

    The noise is tiled or cut to the clean length first. Raises ValueError on silent noise,
    which no gain can bring to a finite SNR.
    """
    clean = np.asarray(clean, dtype=np.float32)
    noise = np.asarray(noise, dtype=np.float32)
    n = clean.shape[-1]
    if noise.shape[-1] < n:
        reps = int(np.ceil(n / noise.shape[-1]))
        noise = np.tile(noise, (1,) * (noise.ndim - 1) + (reps,))
    noise = noise[..., :n]
    if rms_db(noise) <= 20.0 * np.log10(EPS) + 1.0:
        raise ValueError("cannot mix at an SNR: the noise is silent")
    scaled = apply_gain_db(noise, snr_db(clean, noise) - snr)
    return clean + scaled, scaled


def si_snr(estimate: np.ndarray, reference: np.ndarray) -> float:
    """Scale-invariant SNR in dB (Le Roux et al. 2019), zero-mean, over the flattened signals."""
    est = np.asarray(estimate, dtype=np.float64).ravel()
    ref = np.asarray(reference, dtype=np.float64).ravel()
    n = min(est.size, ref.size)
    est, ref = est[:n] - est[:n].mean(), ref[:n] - ref[:n].mean()
    target = (est @ ref) / (ref @ ref + EPS) * ref
    residual = est - target
    return float(10.0 * np.log10((target @ target + EPS) / (residual @ residual + EPS)))
