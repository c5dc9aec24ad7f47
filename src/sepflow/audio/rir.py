"""Room impulse responses: main tap, reverberation time, partial dereverberation.

RT60 is read from the slope of the RIR's windowed power decay in dB (a least-squares line
from 5 to 35 dB below the envelope's peak, extrapolated to 60 dB), which suits the noisy
exponential tails of simulated and measured RIRs alike.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import fftconvolve


def main_tap(rir: np.ndarray) -> int:
    """Index of the direct path: the largest absolute sample."""
    return int(np.argmax(np.abs(rir)))


def power_decay_db(rir: np.ndarray, sample_rate: int, window_ms: float = 10.0) -> np.ndarray:
    """Power of the RIR averaged over a sliding window, in dB relative to its maximum."""
    win = max(1, int(sample_rate * window_ms / 1000))
    power = fftconvolve(np.asarray(rir, dtype=np.float64) ** 2, np.ones(win) / win, mode="same")
    power = np.maximum(power, 1e-30)
    return 10.0 * np.log10(power / power.max())


def rt60(
    rir: np.ndarray, sample_rate: int, window_ms: float = 10.0, fit_range_db: tuple[float, float] = (-5.0, -35.0)
) -> float:
    """Reverberation time in seconds from the slope of the windowed power decay."""
    decay = power_decay_db(rir, sample_rate, window_ms)
    start = int(np.argmax(decay))
    tail = decay[start:]
    hi, lo = fit_range_db
    first = int(np.argmax(tail <= hi))
    below = np.nonzero(tail <= lo)[0]
    last = int(below[0]) if below.size else tail.size
    if last - first < 3:
        raise ValueError("the RIR decays too little or too fast to fit a slope")
    t = np.arange(first, last) / sample_rate
    slope = np.polyfit(t, tail[first:last], 1)[0]  # dB per second, negative
    if slope >= 0:
        raise ValueError("the RIR's power does not decay")
    return float(-60.0 / slope)


def early_part(rir: np.ndarray, sample_rate: int, keep_ms: float = 20.0, decay_s: float = 0.3) -> np.ndarray:
    """Partial dereverberation target: the RIR kept whole up to `keep_ms` after its main tap,
    the rest attenuated by a further 60 dB per `decay_s` seconds."""
    rir = np.asarray(rir, dtype=np.float32)
    start = main_tap(rir) + int(sample_rate * keep_ms / 1000)
    if start >= rir.shape[-1]:
        return rir.copy()
    t = np.arange(rir.shape[-1] - start, dtype=np.float32) / sample_rate
    out = rir.copy()
    out[start:] *= 10.0 ** (-3.0 * t / decay_s)  # amplitude: -60 dB per decay_s
    return out
