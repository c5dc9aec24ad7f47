"""The composite quality measures CSIG, CBAK and COVL of Hu and Loizou (2008).

Each is a linear combination of PESQ with three frame-based distances between the clean
reference and the estimate: the log-likelihood ratio of their LPC models (LLR), the
weighted spectral slope distance (WSS, Klatt 1982) and the segmental SNR. No maintained
PyPI package computes them (pysepm is unpublished and its ports differ in details), so they
are written here after the published MATLAB reference `composite.m` (Loizou, "Speech
Enhancement: Theory and Practice"): 30 ms Hann frames with a 75 % overlap, LLR and WSS
averaged over their lowest 95 % of frames, segmental SNR clipped to [-10, 35] dB, and the
published coefficients. The frame loops are vectorised over frames; the tests check the
distances against the reference code run in GNU Octave on a fixed pair.

PESQ enters as the reference does: the raw P.862 score at 8 kHz, and at 16 kHz the
P.862.2 wide-band MOS-LQO (P.862.2 defines no raw score, so the reference's PESQ returns
only the mapped one there). sepflow scores at 16 kHz, so this is the wide-band PESQ column,
as in the Python ports used by most speech enhancement papers.
"""

from __future__ import annotations

import numpy as np

TRIM = 0.95
"""LLR and WSS average the best 95 % of frames, discarding outlier frames (the reference's alpha)."""
SEGSNR_RANGE_DB = (-10.0, 35.0)
"""Frame SNRs are clipped to this range so silent and perfect frames do not dominate."""

# Critical bands of the WSS measure (centre frequency, bandwidth) in Hz, from Klatt via the reference.
_CENTRES = np.array(
    [
        50.0,
        120.0,
        190.0,
        260.0,
        330.0,
        400.0,
        470.0,
        540.0,
        617.372,
        703.378,
        798.717,
        904.128,
        1020.38,
        1148.30,
        1288.72,
        1442.54,
        1610.70,
        1794.16,
        1993.93,
        2211.08,
        2446.71,
        2701.97,
        2978.04,
        3276.17,
        3597.63,
    ]
)
_BANDWIDTHS = np.array(
    [
        70.0,
        70.0,
        70.0,
        70.0,
        70.0,
        70.0,
        70.0,
        77.3724,
        86.0056,
        95.3398,
        105.411,
        116.256,
        127.914,
        140.423,
        153.823,
        168.154,
        183.457,
        199.776,
        217.153,
        235.631,
        255.255,
        276.072,
        298.126,
        321.465,
        346.136,
    ]
)
_K_MAX, _K_LOCMAX = 20.0, 1.0  # Klatt's weighting constants


def _frames(signal: np.ndarray, sample_rate: int) -> np.ndarray:
    """Hann-windowed 30 ms frames with a quarter-frame hop, shape (frames, length)."""
    length = round(0.03 * sample_rate)
    hop = length // 4
    count = int(np.floor(signal.size / hop - length / hop))
    if count < 1:
        raise ValueError(f"signal of {signal.size} samples is shorter than one 30 ms frame")
    window = 0.5 * (1.0 - np.cos(2.0 * np.pi * np.arange(1, length + 1) / (length + 1)))
    starts = np.arange(count) * hop
    return signal[starts[:, None] + np.arange(length)] * window


def _trimmed_mean(values: np.ndarray) -> float:
    """Mean of the lowest 95 % (rounded half up as MATLAB's round does)."""
    keep = int(np.floor(values.size * TRIM + 0.5))
    return float(np.mean(np.sort(values)[:keep]))


def _critical_band_filters(sample_rate: int, half_fft: int) -> np.ndarray:
    """Gaussian-shaped band weights over the FFT bins, zero below -30 dB; shape (25, half_fft)."""
    nyquist = sample_rate / 2
    centres = np.floor(_CENTRES / nyquist * half_fft)
    widths = _BANDWIDTHS / nyquist * half_fft
    norm = np.log(_BANDWIDTHS[0]) - np.log(_BANDWIDTHS)
    bins = np.arange(half_fft)
    filters = np.exp(-11.0 * ((bins - centres[:, None]) / widths[:, None]) ** 2 + norm[:, None])
    return filters * (filters > np.exp(-30.0 / (2.0 * 2.303)))


def _nearest_peaks(energy: np.ndarray, slope: np.ndarray) -> np.ndarray:
    """Per band, the energy at the nearest spectral peak: to the right on a rising slope,
    to the left on a falling one, with the reference's indexing."""
    bands = slope.shape[1]
    next_fall = np.empty(slope.shape, dtype=int)  # first index >= j with slope <= 0, else `bands`
    following = np.full(slope.shape[0], bands)
    for j in range(bands - 1, -1, -1):
        following = np.where(slope[:, j] <= 0, j, following)
        next_fall[:, j] = following
    last_rise = np.empty(slope.shape, dtype=int)  # last index <= j with slope > 0, else -1
    previous = np.full(slope.shape[0], -1)
    for j in range(bands):
        previous = np.where(slope[:, j] > 0, j, previous)
        last_rise[:, j] = previous
    index = np.where(slope > 0, next_fall - 1, last_rise + 1)
    return np.take_along_axis(energy, index, axis=1)


def wss(reference: np.ndarray, estimate: np.ndarray, sample_rate: int) -> np.ndarray:
    """Weighted spectral slope distance of each frame (Klatt 1982, as in the reference)."""
    ref_frames, est_frames = _frames(reference, sample_rate), _frames(estimate, sample_rate)
    n_fft = 2 ** int(np.ceil(np.log2(2 * ref_frames.shape[1])))
    filters = _critical_band_filters(sample_rate, n_fft // 2)

    def band_energy_db(frames: np.ndarray) -> np.ndarray:
        power = np.abs(np.fft.rfft(frames, n_fft, axis=1)[:, : n_fft // 2]) ** 2
        return 10.0 * np.log10(np.maximum(power @ filters.T, 1e-10))

    weights, slopes = [], []
    for energy in (band_energy_db(ref_frames), band_energy_db(est_frames)):
        slope = np.diff(energy, axis=1)
        peaks = _nearest_peaks(energy, slope)
        below = energy[:, :-1]
        w_max = _K_MAX / (_K_MAX + energy.max(axis=1, keepdims=True) - below)
        w_locmax = _K_LOCMAX / (_K_LOCMAX + peaks - below)
        weights.append(w_max * w_locmax)
        slopes.append(slope)
    w = (weights[0] + weights[1]) / 2.0
    return np.sum(w * (slopes[0] - slopes[1]) ** 2, axis=1) / np.sum(w, axis=1)


def _levinson(autocorrelation: np.ndarray) -> np.ndarray:
    """LPC polynomials [1, -a_1, ..., -a_p] per frame from lags 0..p (Levinson-Durbin)."""
    frames, lags = autocorrelation.shape
    order = lags - 1
    a = np.ones((frames, order))
    error = autocorrelation[:, 0].copy()
    for i in range(order):
        past = a[:, :i].copy()
        term = np.sum(past * autocorrelation[:, i:0:-1], axis=1)
        reflection = (autocorrelation[:, i + 1] - term) / error
        a[:, i] = reflection
        a[:, :i] = past - reflection[:, None] * past[:, ::-1]
        error = (1.0 - reflection**2) * error
    return np.concatenate([np.ones((frames, 1)), -a], axis=1)


def llr(reference: np.ndarray, estimate: np.ndarray, sample_rate: int) -> np.ndarray:
    """Log-likelihood ratio of each frame's LPC models (order 10 below 10 kHz, else 16)."""
    order = 10 if sample_rate < 10000 else 16
    lags = np.arange(order + 1)

    def autocorrelation(frames: np.ndarray) -> np.ndarray:
        n = frames.shape[1]
        return np.stack([np.sum(frames[:, : n - k] * frames[:, k:], axis=1) for k in lags], axis=1)

    r_ref = autocorrelation(_frames(reference, sample_rate))
    r_est = autocorrelation(_frames(estimate, sample_rate))
    toeplitz = r_ref[:, np.abs(lags[:, None] - lags[None, :])]
    a_ref, a_est = _levinson(r_ref), _levinson(r_est)
    numerator = np.einsum("fi,fij,fj->f", a_est, toeplitz, a_est)
    denominator = np.einsum("fi,fij,fj->f", a_ref, toeplitz, a_ref)
    return np.log(numerator / denominator)


def segmental_snr(reference: np.ndarray, estimate: np.ndarray, sample_rate: int) -> np.ndarray:
    """SNR of each frame in dB, clipped to SEGSNR_RANGE_DB."""
    eps = np.finfo(np.float64).eps
    ref_frames, est_frames = _frames(reference, sample_rate), _frames(estimate, sample_rate)
    signal = np.sum(ref_frames**2, axis=1)
    noise = np.sum((ref_frames - est_frames) ** 2, axis=1)
    return np.clip(10.0 * np.log10(signal / (noise + eps) + eps), *SEGSNR_RANGE_DB)


def distances(reference: np.ndarray, estimate: np.ndarray, sample_rate: int) -> dict[str, float]:
    """The three distances the composite measures combine: llr, wss (trimmed means) and segsnr."""
    eps = np.finfo(np.float64).eps  # the reference adds eps so no frame is exactly zero
    reference = np.asarray(reference, dtype=np.float64).reshape(-1) + eps
    estimate = np.asarray(estimate, dtype=np.float64).reshape(-1) + eps
    return {
        "llr": _trimmed_mean(llr(reference, estimate, sample_rate)),
        "wss": _trimmed_mean(wss(reference, estimate, sample_rate)),
        "segsnr": float(np.mean(segmental_snr(reference, estimate, sample_rate))),
    }


def combine(pesq: float, llr: float, wss: float, segsnr: float) -> dict[str, float]:
    """CSIG, CBAK and COVL from their ingredients with Hu and Loizou's coefficients, in [1, 5]."""
    scores = {
        "csig": 3.093 - 1.029 * llr + 0.603 * pesq - 0.009 * wss,
        "cbak": 1.634 + 0.478 * pesq - 0.007 * wss + 0.063 * segsnr,
        "covl": 1.594 + 0.805 * pesq - 0.512 * llr - 0.007 * wss,
    }
    return {name: float(np.clip(value, 1.0, 5.0)) for name, value in scores.items()}
