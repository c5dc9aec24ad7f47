"""Per-item speech metrics: wide-band PESQ, STOI and SI-SNR with its improvement.

Inputs are 1-D arrays of equal length at one sample rate; the caller reads and aligns
them. When a metric is undefined for an item (PESQ of a digitally silent estimate, STOI
of a reference with too little speech) it is NaN, never a stand-in number, so summaries
can count the failures instead of averaging invented scores.
"""

from __future__ import annotations

import warnings

import numpy as np
from pesq import NoUtterancesError, pesq
from pystoi import stoi as _pystoi

from sepflow.audio import resample, si_snr

PESQ_RATE = 16000
"""PESQ is defined at 8 and 16 kHz only; other rates are resampled to 16 kHz."""


def _as_signal(audio: np.ndarray) -> np.ndarray:
    return np.asarray(audio, dtype=np.float64).reshape(-1)


def _pesq(ref: np.ndarray, deg: np.ndarray, sr: int, mode: str) -> float:
    ref, deg = _as_signal(ref), _as_signal(deg)
    if sr != PESQ_RATE:
        ref = resample(ref, sr, PESQ_RATE).astype(np.float64)
        deg = resample(deg, sr, PESQ_RATE).astype(np.float64)
    # pesq 0.0.4 fails with "cannot convert float NaN to integer" on an all-zero estimate
    # and raises NoUtterancesError when its voice activity detector finds no speech.
    if not np.any(deg):
        return float("nan")
    try:
        return float(pesq(PESQ_RATE, ref, deg, mode))
    except NoUtterancesError:
        return float("nan")


def pesq_wb(ref: np.ndarray, deg: np.ndarray, sr: int) -> float:
    """Wide-band PESQ (ITU-T P.862.2, MOS-LQO 1.04 to 4.64); NaN when PESQ finds nothing to score."""
    return _pesq(ref, deg, sr, "wb")


def pesq_nb(ref: np.ndarray, deg: np.ndarray, sr: int) -> float:
    """Narrow-band PESQ (P.862 with the P.862.1 mapping), for comparison with older papers."""
    return _pesq(ref, deg, sr, "nb")


def stoi(ref: np.ndarray, deg: np.ndarray, sr: int, extended: bool = False) -> float:
    """STOI (or extended STOI) from pystoi; NaN when the reference holds too little speech.

    pystoi returns 1e-5 with a warning when fewer than 30 non-silent frames (about 0.4 s
    of speech) remain; that number is not a measurement, so it becomes NaN here.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        score = _pystoi(_as_signal(ref), _as_signal(deg), sr, extended=extended)
    if any("Not enough STFT frames" in str(w.message) for w in caught):
        return float("nan")
    return float(score)


def speech_metrics(clean: np.ndarray, estimate: np.ndarray, noisy: np.ndarray, sr: int) -> dict[str, float]:
    """PESQ, STOI and SI-SNR of an estimate against the clean reference.

    `si_snr_noisy` is the SI-SNR of the unprocessed input and `si_snr_i` the improvement
    over it, which is comparable across test sets with different input SNRs.
    """
    clean, estimate, noisy = _as_signal(clean), _as_signal(estimate), _as_signal(noisy)
    if not clean.size == estimate.size == noisy.size:
        raise ValueError(
            f"clean, estimate and noisy differ in length ({clean.size}, {estimate.size}, {noisy.size}); "
            "cut them to a common length first"
        )
    enhanced = si_snr(estimate, clean)
    unprocessed = si_snr(noisy, clean)
    return {
        "pesq": pesq_wb(clean, estimate, sr),
        "stoi": stoi(clean, estimate, sr),
        "si_snr": enhanced,
        "si_snr_noisy": unprocessed,
        "si_snr_i": enhanced - unprocessed,
    }
