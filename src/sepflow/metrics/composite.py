"""The composite quality measures CSIG, CBAK and COVL of Hu and Loizou (2008), in the two
definitions tables use.

Each is a linear combination of PESQ with three frame-based distances between the clean
reference and the estimate: the log-likelihood ratio of their LPC models (LLR), the
weighted spectral slope distance (WSS, Klatt 1982) and the segmental SNR. No maintained
PyPI package computes them (pysepm is unpublished and its ports differ in details), so they
are written here after the published MATLAB reference `composite.m` (Loizou, "Speech
Enhancement: Theory and Practice"): 30 ms Hann frames with a 75 % overlap, LLR and WSS
averaged over their lowest 95 % of frames, segmental SNR clipped to [-10, 35] dB, and the
published coefficients. The frame loops are vectorised over frames; the tests check the
distances against the reference code run in GNU Octave on a fixed pair.

The tables of CMGAN, SEMamba, MP-SENet and most recent VoiceBank+DEMAND papers were computed
with CMGAN's `src/tools/compute_metrics.py` instead, a port of composite.m that differs in
three ways (read from its text; the tests check this module against a transcription of it):

- its WSS divides the signals by 32768 ("int16 to float") although they are already float,
  so every band energy falls by 90.3 dB and many more reach the 1e-10 (-100 dB) floor, where
  their slopes stop counting: WSS comes out lower and CSIG/CBAK/COVL higher (by 0.16-0.21 on
  the tests' PESQ pair);
- it adds no eps when the two signals have equal lengths (ours always do): a frame that is
  digitally silent in either signal has no LPC model (0/0), its LLR is NaN and sorts last, so
  the 5 % trim drops up to that many such frames; beyond it the LLR is undefined (the script
  then reports CSIG = COVL = 1.0 through max(1, nan); here they are NaN with the reason);
- it keeps round(0.95 n) frames with Python's round (half to even), composite.m rounds half
  up: one frame fewer when 0.95 n is an even number and a half (n = 30, 70, 110, ...).

`Analysis` frames a pair once for both; the differences above are all that separates them.

PESQ enters as the reference does: the raw P.862 score at 8 kHz, and at 16 kHz the
P.862.2 wide-band MOS-LQO (P.862.2 defines no raw score, so the reference's PESQ returns
only the mapped one there). sepflow scores at 16 kHz, so this is the wide-band PESQ column,
as in the Python ports used by most speech enhancement papers (CMGAN's included).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

DEFINITIONS = {
    "loizou": "composite.m (Hu & Loizou 2008, the reference)",
    "cmgan": "CMGAN's compute_metrics.py (as in the tables of CMGAN, SEMamba, MP-SENet and most recent "
    "VoiceBank+DEMAND papers; its WSS divides float frames by 32768)",
}
"""The two definitions, each giving columns `{measure}_{definition}`."""
MEASURES = ("csig", "cbak", "covl")
TRIM = 0.95
"""LLR and WSS average the best 95 % of frames, discarding outlier frames (the reference's alpha)."""
SEGSNR_RANGE_DB = (-10.0, 35.0)
"""Frame SNRs are clipped to this range so silent and perfect frames do not dominate."""
WSS_FRAME_SCALE = {"loizou": 1.0, "cmgan": 1.0 / 32768}
"""What each definition multiplies a WSS frame by before its spectrum (see the module docstring)."""
BAND_ENERGY_FLOOR = 1e-10
"""Band energies below this are raised to it before the dB scale (both definitions)."""

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
    return sliding_window_view(signal, length)[::hop][:count] * window


def _kept(frames: int, definition: str) -> int:
    """How many of the lowest frames a trimmed mean keeps: round(0.95 n) as MATLAB rounds (half
    up) in composite.m, as Python rounds (half to even) in compute_metrics.py."""
    return int(np.floor(frames * TRIM + 0.5)) if definition == "loizou" else round(frames * TRIM)


def _trimmed_mean(values: np.ndarray, keep: int) -> float:
    """Mean of the `keep` lowest values; NaN values sort last (numpy's order, as in CMGAN's)."""
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


def _band_power(frames: np.ndarray, sample_rate: int) -> np.ndarray:
    """Power of each windowed frame in the 25 critical bands, shape (frames, 25)."""
    n_fft = 2 ** int(np.ceil(np.log2(2 * frames.shape[1])))
    filters = _critical_band_filters(sample_rate, n_fft // 2)
    return (np.abs(np.fft.rfft(frames, n_fft, axis=1)[:, : n_fft // 2]) ** 2) @ filters.T


def _wss(reference_power: np.ndarray, estimate_power: np.ndarray, frame_scale: float) -> np.ndarray:
    """Weighted spectral slope distance of each frame (Klatt 1982, as in the reference), from
    the band powers of frames multiplied by `frame_scale`."""
    weights, slopes = [], []
    for power in (reference_power, estimate_power):
        energy = 10.0 * np.log10(np.maximum(power * frame_scale**2, BAND_ENERGY_FLOOR))
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


def _llr(ref_frames: np.ndarray, est_frames: np.ndarray, sample_rate: int) -> np.ndarray:
    """Log-likelihood ratio of each frame's LPC models (order 10 below 10 kHz, else 16)."""
    order = 10 if sample_rate < 10000 else 16
    lags = np.arange(order + 1)

    def autocorrelation(frames: np.ndarray) -> np.ndarray:
        n = frames.shape[1]
        return np.stack([np.einsum("fi,fi->f", frames[:, : n - k], frames[:, k:]) for k in lags], axis=1)

    r_ref, r_est = autocorrelation(ref_frames), autocorrelation(est_frames)
    toeplitz = r_ref[:, np.abs(lags[:, None] - lags[None, :])]
    a_ref, a_est = _levinson(r_ref), _levinson(r_est)
    numerator = np.einsum("fi,fij,fj->f", a_est, toeplitz, a_est)
    denominator = np.einsum("fi,fij,fj->f", a_ref, toeplitz, a_ref)
    return np.log(numerator / denominator)


def _segmental_snr(ref_frames: np.ndarray, est_frames: np.ndarray) -> np.ndarray:
    """SNR of each frame in dB, clipped to SEGSNR_RANGE_DB."""
    eps = np.finfo(np.float64).eps
    signal = np.sum(ref_frames**2, axis=1)
    noise = np.sum((ref_frames - est_frames) ** 2, axis=1)
    return np.clip(10.0 * np.log10(signal / (noise + eps) + eps), *SEGSNR_RANGE_DB)


def _silent_frames(signal: np.ndarray, count: int, sample_rate: int) -> np.ndarray:
    """Which of the first `count` frames hold only zeros."""
    length = round(0.03 * sample_rate)
    nonzero = np.concatenate([[0], np.cumsum(signal != 0)])
    starts = np.arange(count) * (length // 4)
    return nonzero[starts + length] == nonzero[starts]


class Analysis:
    """The frame distances of one pair, computed once for both definitions.

    Frames are taken from the signals plus eps, as composite.m does. compute_metrics.py adds
    none, which changes a frame's distances only where the frame is digitally silent (by
    about 1e-12 elsewhere): there its LLR is NaN, and that is what `distances("cmgan")` uses.
    Raises ValueError when the signals are shorter than one 30 ms frame.
    """

    def __init__(self, reference: np.ndarray, estimate: np.ndarray, sample_rate: int):
        eps = np.finfo(np.float64).eps  # the reference adds eps so no frame is exactly zero
        reference = np.asarray(reference, dtype=np.float64).reshape(-1)
        estimate = np.asarray(estimate, dtype=np.float64).reshape(-1)
        ref_frames, est_frames = _frames(reference + eps, sample_rate), _frames(estimate + eps, sample_rate)
        self.frames = ref_frames.shape[0]
        silent = _silent_frames(reference, self.frames, sample_rate) | _silent_frames(
            estimate, self.frames, sample_rate
        )
        self.silent_frames = int(silent.sum())
        power = _band_power(ref_frames, sample_rate), _band_power(est_frames, sample_rate)
        self._wss = {definition: _wss(*power, WSS_FRAME_SCALE[definition]) for definition in DEFINITIONS}
        with np.errstate(divide="ignore", invalid="ignore"):
            llr = _llr(ref_frames, est_frames, sample_rate)
        self._llr = {"loizou": llr, "cmgan": np.where(silent, np.nan, llr)}
        self._segsnr = float(np.mean(_segmental_snr(ref_frames, est_frames)))

    def distances(self, definition: str = "loizou") -> dict[str, float]:
        """The ingredients `combine` takes: llr and wss (trimmed means) and segsnr. The
        published-tables LLR is NaN when `undefined` says why."""
        keep = _kept(self.frames, definition)
        return {
            "llr": _trimmed_mean(self._llr[definition], keep),
            "wss": _trimmed_mean(self._wss[definition], keep),
            "segsnr": self._segsnr,
        }

    def undefined(self, definition: str) -> str | None:
        """Why the definition's LLR (so CSIG and COVL) is NaN, or None when it is defined."""
        dropped = self.frames - _kept(self.frames, definition)
        if definition == "loizou" or self.silent_frames <= dropped:
            return None
        return (
            f"CMGAN's LLR is undefined: {self.silent_frames} of {self.frames} frames are digitally silent in "
            f"the reference or the estimate, more than the {dropped} its 5 % trim drops (its script reports 1.0)"
        )


def distances(reference: np.ndarray, estimate: np.ndarray, sample_rate: int, definition: str = "loizou") -> dict:
    """The three distances the composite measures combine: llr, wss (trimmed means) and segsnr."""
    return Analysis(reference, estimate, sample_rate).distances(definition)


def combine(pesq: float, llr: float, wss: float, segsnr: float) -> dict[str, float]:
    """CSIG, CBAK and COVL from their ingredients with Hu and Loizou's coefficients, in [1, 5]."""
    scores = {
        "csig": 3.093 - 1.029 * llr + 0.603 * pesq - 0.009 * wss,
        "cbak": 1.634 + 0.478 * pesq - 0.007 * wss + 0.063 * segsnr,
        "covl": 1.594 + 0.805 * pesq - 0.512 * llr - 0.007 * wss,
    }
    return {name: float(np.clip(value, 1.0, 5.0)) for name, value in scores.items()}
