"""Whether an estimate is late or early: the lag at which it best matches its reference.

SI-SNR, STOI and the frame-based measures compare the estimate with the reference at equal
times, so an estimate that is only delayed scores as a ruined one: 30 ms late, a good
estimate falls to an SI-SNR of -28 dB and a STOI of 0.49 (PESQ finds the delay itself and
does not notice). Systems delay their output for many reasons (an algorithmic delay left
uncompensated, a resampler's group delay, a streaming hop, an STFT offset), so evaluation
measures the lag of every estimate and does not score those metrics of one that is off.

The lag is the peak of the magnitude of the cross-correlation within ±MAX_LAG_S, by FFT,
with the channels summed; the magnitude keeps a polarity-inverted estimate (which SI-SNR and
STOI do not mind) at lag 0.
"""

from __future__ import annotations

import numpy as np
import scipy.fft

MAX_LAG_S = 0.1
"""The lags searched, either way: the issue's ±100 ms, well beyond the 20-30 ms that real-time
enhancers delay their output by."""
TOLERANCE_S = 0.25e-3
"""A best lag up to this (4 samples at 16 kHz, 11 at 44.1 kHz) counts as aligned. The peak
moves by a sample or two with the phase of a filter that delays nothing (a model's smoothing,
a resampler's rounding), while every real latency is a frame hop, a look-ahead or a filter's
delay of 1 ms (16 samples at 16 kHz) or more."""
MIN_CORRELATION = 0.2
"""The least normalised correlation at the best lag for it to mean a delay. Below it (an
SI-SNR under -14 dB even at that lag) the estimate resembles its reference at no lag, its
peak says nothing, and it is scored as it is (badly) rather than excused as late."""


def best_lag(estimate: np.ndarray, reference: np.ndarray, max_lag: int) -> tuple[int, float]:
    """(lag in samples, positive when the estimate is late; the normalised correlation there)
    for signals of shape (time,) or (channels, time) and equal length."""
    estimate = np.atleast_2d(np.asarray(estimate, dtype=np.float64))
    reference = np.atleast_2d(np.asarray(reference, dtype=np.float64))
    length = reference.shape[-1]
    max_lag = min(max_lag, length - 1)
    n = scipy.fft.next_fast_len(length + max_lag, real=True)  # no circular wrap within ±max_lag
    spectrum = np.sum(scipy.fft.rfft(estimate, n) * np.conj(scipy.fft.rfft(reference, n)), axis=0)
    correlation = scipy.fft.irfft(spectrum, n)
    searched = np.abs(np.concatenate([correlation[n - max_lag :], correlation[: max_lag + 1]]))
    peak = int(np.argmax(searched))
    energy = np.sqrt(np.sum(estimate**2) * np.sum(reference**2))
    return peak - max_lag, float(searched[peak] / energy) if energy > 0 else 0.0


def misalignment(estimate: np.ndarray, reference: np.ndarray, sample_rate: int) -> str | None:
    """Why the estimate cannot be compared at equal times ("the estimate is 480 samples late
    (30.0 ms)"), or None when it is aligned within TOLERANCE_S or resembles the reference at
    no lag."""
    lag, correlation = best_lag(estimate, reference, round(MAX_LAG_S * sample_rate))
    if abs(lag) <= TOLERANCE_S * sample_rate or correlation < MIN_CORRELATION:
        return None
    return (
        f"the estimate is {abs(lag)} samples {'late' if lag > 0 else 'early'} ({1000 * abs(lag) / sample_rate:.1f} ms)"
    )
