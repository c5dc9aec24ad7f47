"""Per-item speech metrics, each a number or NaN with the reason it could not be measured.

Intrusive metrics compare an estimate with its clean reference: PESQ (wide and narrow
band), STOI and extended STOI, SI-SNR and SNR, the SI-SNR of the unprocessed mixture and
the improvement over it, and the composite CSIG, CBAK and COVL in both definitions (composite.m's
`_loizou` and the published tables' `_cmgan`, see sepflow.metrics.composite). DNSMOS needs no
reference, so recordings without one are scored with `nonintrusive_metrics`. Inputs are 1-D
arrays of equal length at one sample rate; the caller reads them and cuts them to one length.

An estimate that is late or early against its reference (sepflow.metrics.lag) gets NaN,
with its lag as the reason, for every metric that compares it with the reference at equal
times (ALIGNED_COLUMNS). PESQ keeps its score: P.862 estimates the delay and aligns the
signals itself, so its number for a late estimate is the one PESQ is defined to give, and
DNSMOS needs no reference; both mean the same for a late estimate as for any other.

A metric that is undefined for an item (a silent estimate, a reference too short, PESQ
finding no speech) is NaN and its reason is returned beside it, never a stand-in number, so
summaries count the failures instead of averaging invented scores.
"""

from __future__ import annotations

import warnings
from importlib.metadata import version

import numpy as np
import pesq as _pesq
from pystoi import stoi as _pystoi
from pystoi.stoi import FS as _STOI_RATE
from pystoi.stoi import N_FRAME as _STOI_FRAME
from pystoi.stoi import N as _STOI_FRAMES

from sepflow.audio import resample, rms_db, si_snr
from sepflow.errors import SepflowError
from sepflow.metrics import composite as _composite_measures
from sepflow.metrics import lag
from sepflow.metrics.composite import DEFINITIONS as COMPOSITE_DEFINITIONS
from sepflow.metrics.dnsmos import DNSMOS_MODEL
from sepflow.metrics.dnsmos import dnsmos as _dnsmos

COMPOSITE_COLUMNS = tuple(f"{m}_{name}" for name in COMPOSITE_DEFINITIONS for m in _composite_measures.MEASURES)
"""csig_loizou, cbak_loizou, covl_loizou, csig_cmgan, ...: a bare `csig` could be either."""
DNSMOS_COLUMNS = ("dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl")
INTRUSIVE_COLUMNS = (
    "pesq_wb",
    "pesq_nb",
    "stoi",
    "estoi",
    "si_snr",
    "snr",
    "si_snr_input",
    "si_snr_i",
    *COMPOSITE_COLUMNS,
)
SPEECH_COLUMNS = (*INTRUSIVE_COLUMNS, *DNSMOS_COLUMNS)
"""Every speech metric, in table order."""
ALIGNED_COLUMNS = ("stoi", "estoi", "si_snr", "snr", "si_snr_i", *COMPOSITE_COLUMNS)
"""The metrics that compare the estimate with the reference at equal times (samples or 30 ms
frames): what a late or early estimate cannot be scored on."""

PESQ_RATE = 16000
"""PESQ (and the composite measures built on it) run at 16 kHz; other rates are resampled."""
NEAR_SILENCE_DBFS = -70.0
"""Signals whose RMS is below this level are treated as silent and not scored.

Speech in test sets sits around -25 dBFS; at -70 dBFS an estimate is 45 dB quieter than
that, inaudible at any normal listening level and, stored as 16-bit PCM, only a few bits
above the quantisation floor (about -101 dBFS). Scale-invariant SI-SNR and STOI would still
rate the shape of such a signal, and PESQ and STOI return numbers for digital silence, so a
model that outputs (near) silence would get scores it did not earn.
"""
PESQ_SEGMENT_S = 30.0
"""Longest stretch scored by one PESQ call; longer items are scored in segments.

The pesq package (ITU-T P.862 reference code) keeps at most 50 utterances in fixed arrays
and writes past them when its voice activity detector finds more, which corrupts the score
or crashes the process (seen from about 300 s of speech). An utterance needs 200 ms of
speech and 200 ms of pause on each side, so natural speech gives far fewer than 50 in 30 s.
"""
STOI_MIN_S = ((_STOI_FRAMES - 1) * _STOI_FRAME // 2 + _STOI_FRAME) / _STOI_RATE
"""STOI correlates 30 overlapping frames (384 ms) of pystoi's 10 kHz analysis at least."""
PESQ_CUT_WINDOW_S = 0.1
"""Segments are cut at the centre of the quietest 100 ms of the reference, between pauses."""


def provenance(composite: str = "cmgan") -> dict[str, str]:
    """How each group of columns was computed (packages, versions, modes), for a table's notes;
    `composite` is the definition of CSIG/CBAK/COVL the table shows."""
    if composite not in COMPOSITE_DEFINITIONS:
        raise SepflowError(
            f"unknown composite definition {composite!r} (metrics.composite); choose one of "
            f"{', '.join(COMPOSITE_DEFINITIONS)}."
        )
    return {
        "pesq": f"pesq {version('pesq')}: MOS-LQO, wb P.862.2 and nb P.862.1, at {PESQ_RATE} Hz; "
        f"items over {PESQ_SEGMENT_S:g} s scored in segments, duration-weighted mean",
        "stoi": f"pystoi {version('pystoi')}: STOI and extended STOI",
        "si_snr": "SI-SNR (zero-mean, Le Roux et al. 2019) and SNR in dB; si_snr_i against the mixture",
        "composite": f"CSIG/CBAK/COVL (Hu & Loizou 2008) as {COMPOSITE_DEFINITIONS[composite]}, with the wb "
        f"PESQ column; the per-item CSV has both definitions ({', '.join(COMPOSITE_DEFINITIONS)})",
        "alignment": f"each estimate cross-correlated with its reference over ±{1000 * lag.MAX_LAG_S:g} ms; one "
        f"late or early by more than {1000 * lag.TOLERANCE_S:g} ms is not scored on {', '.join(ALIGNED_COLUMNS[:5])} "
        "and the composite (NaN with its lag); PESQ aligns itself and keeps its score",
        "dnsmos": f"{DNSMOS_MODEL}, onnxruntime {version('onnxruntime')}",
        "resampler": f"soxr {version('soxr')} HQ to {PESQ_RATE} Hz where a metric needs it",
        "silence": f"signals below {NEAR_SILENCE_DBFS:g} dBFS RMS are not scored (NaN with a reason)",
    }


class Unmeasurable(Exception):
    """A metric is undefined for this input; the message says why."""


def _as_signal(audio: np.ndarray) -> np.ndarray:
    return np.asarray(audio, dtype=np.float64).reshape(-1)


def _check_audible(signal: np.ndarray, role: str) -> None:
    level = rms_db(signal)
    if level < NEAR_SILENCE_DBFS:
        kind = "digitally silent" if not np.any(signal) else f"near-silent ({level:.1f} dBFS RMS)"
        raise Unmeasurable(f"{role} is {kind}, below {NEAR_SILENCE_DBFS:g} dBFS")


def pesq_segments(reference: np.ndarray, sample_rate: int) -> list[slice]:
    """Cut points for PESQ: the whole item, or segments of at most PESQ_SEGMENT_S seconds,
    each ending at the quietest PESQ_CUT_WINDOW_S of the reference in its second half."""
    longest = int(PESQ_SEGMENT_S * sample_rate)
    if reference.size <= longest:
        return [slice(0, reference.size)]
    window = int(PESQ_CUT_WINDOW_S * sample_rate)
    energy = np.convolve(reference**2, np.ones(window), mode="same")
    segments, start = [], 0
    while reference.size - start > longest:
        search = slice(start + longest // 2, start + longest)
        cut = search.start + int(np.argmin(energy[search]))
        segments.append(slice(start, cut))
        start = cut
    segments.append(slice(start, reference.size))
    return segments


def pesq(reference: np.ndarray, estimate: np.ndarray, sample_rate: int, mode: str) -> float:
    """PESQ MOS-LQO, "wb" (P.862.2, 1.04 to 4.64) or "nb" (P.862 with P.862.1's mapping).

    Items longer than PESQ_SEGMENT_S are scored in segments whose scores are averaged with
    their durations as weights; segments without speech (PESQ finds no utterance) are left
    out. Raises Unmeasurable when nothing can be scored or a segment of the estimate is
    digitally silent (leaving it out would flatter the estimate).
    """
    reference, estimate = _as_signal(reference), _as_signal(estimate)
    if sample_rate != PESQ_RATE:
        reference = resample(reference, sample_rate, PESQ_RATE).astype(np.float64)
        estimate = resample(estimate, sample_rate, PESQ_RATE).astype(np.float64)
    scores, weights, failures = [], [], []
    for segment in pesq_segments(reference, PESQ_RATE):
        if not np.any(estimate[segment]):  # the package fails on it ("cannot convert float NaN")
            raise Unmeasurable(
                f"the estimate is digitally silent from {segment.start / PESQ_RATE:.1f} s to "
                f"{segment.stop / PESQ_RATE:.1f} s, which PESQ cannot score"
            )
        try:
            scores.append(_pesq.pesq(PESQ_RATE, reference[segment], estimate[segment], mode))
            weights.append(segment.stop - segment.start)
        except _pesq.NoUtterancesError:
            failures.append("PESQ found no utterances in the reference")
        except _pesq.BufferTooShortError:
            failures.append("the item is shorter than the 0.25 s PESQ needs")
        except _pesq.PesqError as error:
            failures.append(f"PESQ failed: {error}")
    if not scores:
        raise Unmeasurable(failures[0])
    return float(np.average(scores, weights=weights))


def stoi(reference: np.ndarray, estimate: np.ndarray, sample_rate: int, extended: bool = False) -> float:
    """STOI, or extended STOI, from pystoi.

    pystoi returns 1e-5 with a warning when fewer than 30 non-silent frames (about 0.4 s
    of speech) remain, and fails on shorter items; both raise Unmeasurable here.
    """
    if len(reference) / sample_rate < STOI_MIN_S:
        raise Unmeasurable(f"the item is shorter than the {STOI_MIN_S:.2f} s STOI needs")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        score = _pystoi(_as_signal(reference), _as_signal(estimate), sample_rate, extended=extended)
    if any("Not enough STFT frames" in str(w.message) for w in caught):
        raise Unmeasurable("the reference has less than 30 frames (about 0.4 s) of speech for STOI")
    return float(score)


def snr(estimate: np.ndarray, reference: np.ndarray) -> float:
    """SNR in dB of the estimate, taking everything that differs from the reference as noise."""
    reference, error = _as_signal(reference), _as_signal(estimate) - _as_signal(reference)
    if not np.any(error):
        raise Unmeasurable("the estimate equals the reference (infinite SNR)")
    return float(10.0 * np.log10(np.sum(reference**2) / np.sum(error**2)))


class _Scores:
    """The columns decided so far: a value, or NaN with the reason it could not be measured."""

    def __init__(self) -> None:
        self.values: dict[str, float] = {}
        self.reasons: dict[str, str] = {}

    def measure(self, names: tuple[str, ...], compute) -> None:
        """Fill `names` from compute() (a float for one name, else a dict), or NaN and the reason."""
        try:
            result = compute()
            values = {names[0]: result} if len(names) == 1 else result
            for name in names:
                if not np.isfinite(values[name]):
                    raise Unmeasurable(f"{name} came out as {values[name]}")
            self.values.update({name: float(values[name]) for name in names})
        except Unmeasurable as reason:
            self.skip(names, str(reason))

    def skip(self, names: tuple[str, ...], reason: str) -> None:
        for name in names:
            self.values[name], self.reasons[name] = float("nan"), reason

    def skip_undecided(self, names: tuple[str, ...], reason: str) -> None:
        self.skip(tuple(name for name in names if name not in self.values), reason)

    def reason(self, name: str) -> str | None:
        return self.reasons.get(name)

    def result(self) -> tuple[dict[str, float], dict[str, str]]:
        return (
            {name: self.values[name] for name in SPEECH_COLUMNS},
            {name: self.reasons[name] for name in SPEECH_COLUMNS if name in self.reasons},
        )


def _composite(reference: np.ndarray, estimate: np.ndarray, sample_rate: int, pesq_wb: float) -> tuple[dict, dict]:
    """Both definitions' columns from one analysis, and {column: reason} for those undefined."""
    if sample_rate != PESQ_RATE:
        reference = resample(reference, sample_rate, PESQ_RATE)
        estimate = resample(estimate, sample_rate, PESQ_RATE)
    try:
        analysis = _composite_measures.Analysis(reference, estimate, PESQ_RATE)
    except ValueError as error:  # shorter than one 30 ms frame
        raise Unmeasurable(str(error)) from error
    values, reasons = {}, {}
    for name in COMPOSITE_DEFINITIONS:
        for measure, value in _composite_measures.combine(pesq_wb, **analysis.distances(name)).items():
            values[f"{measure}_{name}"] = value
            if not np.isfinite(value):
                reasons[f"{measure}_{name}"] = analysis.undefined(name) or f"{measure} came out as {value}"
    return values, reasons


def _audible_dnsmos(estimate: np.ndarray, sample_rate: int) -> dict[str, float]:
    _check_audible(estimate, "the estimate")
    return _dnsmos(estimate, sample_rate)


def _input_si_snr(reference: np.ndarray, mixture: np.ndarray) -> float:
    _check_audible(mixture, "the mixture")
    return si_snr(mixture, reference)


def _score_dnsmos(scores: _Scores, estimate: np.ndarray, sample_rate: int, enabled: bool) -> None:
    if enabled:
        scores.measure(DNSMOS_COLUMNS, lambda: _audible_dnsmos(estimate, sample_rate))
    else:
        scores.skip(DNSMOS_COLUMNS, "DNSMOS was not requested")


def _score_intrusive(
    scores: _Scores, reference: np.ndarray, estimate: np.ndarray, mixture: np.ndarray, sample_rate: int
) -> None:
    scores.measure(("si_snr_input",), lambda: _input_si_snr(reference, mixture))
    _check_audible(estimate, "the estimate")
    scores.measure(("pesq_wb",), lambda: pesq(reference, estimate, sample_rate, "wb"))
    scores.measure(("pesq_nb",), lambda: pesq(reference, estimate, sample_rate, "nb"))
    late = lag.misalignment(estimate, reference, sample_rate)
    if late:
        scores.skip(ALIGNED_COLUMNS, late)
        return
    scores.measure(("stoi",), lambda: stoi(reference, estimate, sample_rate))
    scores.measure(("estoi",), lambda: stoi(reference, estimate, sample_rate, extended=True))
    scores.measure(("si_snr",), lambda: si_snr(estimate, reference))
    scores.measure(("snr",), lambda: snr(estimate, reference))
    missing = scores.reason("si_snr") or scores.reason("si_snr_input")
    if missing:
        scores.skip(("si_snr_i",), f"needs both SI-SNRs: {missing}")
    else:
        scores.values["si_snr_i"] = scores.values["si_snr"] - scores.values["si_snr_input"]
    missing = scores.reason("pesq_wb")
    if missing:
        scores.skip(COMPOSITE_COLUMNS, f"needs wide-band PESQ: {missing}")
        return
    try:
        values, reasons = _composite(reference, estimate, sample_rate, scores.values["pesq_wb"])
    except Unmeasurable as reason:
        scores.skip(COMPOSITE_COLUMNS, str(reason))
        return
    scores.values.update(values)
    for column, reason in reasons.items():
        scores.skip((column,), reason)


def speech_metrics(
    reference: np.ndarray,
    estimate: np.ndarray,
    mixture: np.ndarray,
    sample_rate: int,
    dnsmos: bool = True,
) -> tuple[dict[str, float], dict[str, str]]:
    """Every SPEECH_COLUMNS value of an estimate, and {column: reason} for the NaN ones.

    `si_snr_input` is the SI-SNR of the unprocessed mixture and `si_snr_i` the improvement
    over it, comparable across test sets with different input SNRs. A silent estimate gets
    NaN wherever it enters (no SI-SNRi either), a silent mixture a NaN input SI-SNR, a
    silent reference NaN for every intrusive metric. `dnsmos=False` skips the slowest metric.
    """
    reference, estimate, mixture = _as_signal(reference), _as_signal(estimate), _as_signal(mixture)
    if not reference.size == estimate.size == mixture.size:
        raise ValueError(
            f"reference, estimate and mixture differ in length ({reference.size}, {estimate.size}, "
            f"{mixture.size}); cut them to a common length first"
        )
    scores = _Scores()
    try:
        _check_audible(reference, "the reference")
        _score_intrusive(scores, reference, estimate, mixture, sample_rate)
    except Unmeasurable as reason:  # the reference or the estimate is silent: what is left is NaN
        scores.skip_undecided(INTRUSIVE_COLUMNS, str(reason))
    _score_dnsmos(scores, estimate, sample_rate, dnsmos)
    return scores.result()


def nonintrusive_metrics(estimate: np.ndarray, sample_rate: int) -> tuple[dict[str, float], dict[str, str]]:
    """The same columns for a recording without a clean reference: DNSMOS only, the rest NaN."""
    scores = _Scores()
    scores.skip(INTRUSIVE_COLUMNS, "no clean reference")
    _score_dnsmos(scores, _as_signal(estimate), sample_rate, True)
    return scores.result()
