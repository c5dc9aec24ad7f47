"""Per-item speech metrics against published and reference-implementation values."""

from __future__ import annotations

import math
import multiprocessing
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pesq as pesq_package
import pytest
from scipy import signal
from scipy.linalg import toeplitz

from sepflow.audio import mix_at_snr, si_snr
from sepflow.metrics import composite, dnsmos
from sepflow.metrics.speech import (
    ALIGNED_COLUMNS,
    COMPOSITE_COLUMNS,
    DNSMOS_COLUMNS,
    INTRUSIVE_COLUMNS,
    PESQ_SEGMENT_S,
    SPEECH_COLUMNS,
    Unmeasurable,
    nonintrusive_metrics,
    pesq,
    pesq_segments,
    snr,
    speech_metrics,
    stoi,
)
from sepflow.metrics.threads import single_thread_worker

SR = 16000


@pytest.fixture(scope="module")
def pair(pesq_pair) -> tuple[np.ndarray, np.ndarray]:
    """The pesq package's reference pair, as float64."""
    return tuple(x.astype(np.float64) for x in pesq_pair)


# --- PESQ, STOI, SI-SNR, SNR ----------------------------------------------------------------


def test_pesq_matches_the_published_values(pair):
    clean, noisy = pair  # values from python-pesq's README, see tests/data/pesq/README.md
    assert pesq(clean, noisy, SR, "wb") == pytest.approx(1.0832337141036987, abs=1e-6)
    assert pesq(clean, noisy, SR, "nb") == pytest.approx(1.6072081327438354, abs=1e-6)


def test_pesq_of_a_signal_against_itself_is_the_maximum(pair):
    clean, _ = pair
    assert pesq(clean, clean, SR, "wb") == pytest.approx(4.64, abs=0.01)


def test_pesq_without_speech_is_unmeasurable_not_a_crash(pair):
    clean, noisy = pair
    with pytest.raises(Unmeasurable, match="no utterances"):
        pesq(clean[:4000], noisy[:4000], SR, "wb")
    with pytest.raises(Unmeasurable, match="shorter than the 0.25 s"):
        pesq(clean[:400], noisy[:400], SR, "wb")


def test_stoi_is_one_for_identical_signals_and_low_for_independent_noise(pair):
    clean, noisy = pair
    noise = np.random.default_rng(0).standard_normal(clean.size)
    assert stoi(clean, clean, SR) == pytest.approx(1.0, abs=1e-6)
    assert stoi(clean, noise, SR) < 0.5 < stoi(clean, noisy, SR)
    assert stoi(clean, noisy, SR, extended=True) < stoi(clean, noisy, SR)


@pytest.mark.parametrize("samples", [400, 4000])
def test_stoi_is_unmeasurable_when_the_reference_is_too_short(pair, samples):
    clean, noisy = pair  # 4000 samples: pystoi's 1e-5 stand-in; 400: pystoi fails outright
    with pytest.raises(Unmeasurable, match="STOI"):
        stoi(clean[:samples], noisy[:samples], SR)


def test_si_snr_of_a_scaled_copy_is_very_high_and_scale_invariant(pair):
    clean, noisy = pair
    assert si_snr(0.3 * clean, clean) > 80.0
    assert si_snr(5.0 * noisy, clean) == pytest.approx(si_snr(noisy, clean), abs=1e-6)


@pytest.mark.parametrize("target", [-5.0, 0.0, 5.0, 10.0])
def test_si_snr_of_a_mixture_equals_its_snr(pair, target):
    clean, _ = pair
    noise = np.random.default_rng(1).standard_normal(clean.size).astype(np.float32)
    mixture, _ = mix_at_snr(clean, noise, target)
    assert si_snr(mixture, clean) == pytest.approx(target, abs=0.1)


def test_snr_counts_every_difference_as_noise_and_is_not_scale_invariant(pair):
    clean, _ = pair
    error = np.random.default_rng(2).standard_normal(clean.size)
    error *= np.sqrt(np.sum(clean**2) / np.sum(error**2) / 10.0)  # exactly 10 dB below
    assert snr(clean + error, clean) == pytest.approx(10.0, abs=1e-9)
    assert snr(0.5 * clean, clean) == pytest.approx(20 * math.log10(2), abs=1e-9)


# --- composite measures ---------------------------------------------------------------------

# LLR, segmental SNR and WSS from the MATLAB reference `composite.m` (Hu & Loizou, shipped
# with Loizou's "Speech Enhancement: Theory and Practice"), its llr/wss/snr/lpcoeff functions
# run unchanged in GNU Octave 7.3 on these pairs (audioread of the WAVs, which equals
# sepflow's float reading); the 8 kHz pair is every second sample of the 16 kHz one.
OCTAVE_REFERENCE = [
    ("noisy", SR, 0.9607521284, -4.0386645841, 52.6578661084),
    ("enhanced", SR, 0.4986047123, 3.3207273690, 33.7455567153),
    ("noisy", 8000, 0.8330817590, -4.0354860750, 48.8002836099),
]


@pytest.mark.parametrize(("estimate", "rate", "llr", "segsnr", "wss"), OCTAVE_REFERENCE)
def test_composite_distances_match_the_reference_implementation(pair, estimate, rate, llr, segsnr, wss):
    clean, noisy = pair
    degraded = noisy if estimate == "noisy" else clean + 0.3 * (noisy - clean)
    step = SR // rate
    got = composite.distances(clean[::step], degraded[::step], rate)
    assert got == pytest.approx({"llr": llr, "segsnr": segsnr, "wss": wss}, rel=1e-8)


def test_composite_combination_matches_the_published_example():
    # The readme of Loizou's composite.m: composite('sp09.wav', 'enhanced_logmmse.wav') prints
    # LLR=0.681368 SNRseg=3.991727 WSS=49.671978 PESQ=2.255732 and c=3.3050 b=2.6160 o=2.7133.
    scores = composite.combine(pesq=2.255732, llr=0.681368, wss=49.671978, segsnr=3.991727)
    assert scores == pytest.approx({"csig": 3.3050, "cbak": 2.6160, "covl": 2.7133}, abs=6e-5)


# Both definitions transcribed frame by frame, without sepflow's code: Loizou's composite.m
# (eps added to both signals, MATLAB's round) and CMGAN's src/tools/compute_metrics.py as the
# tables of CMGAN, SEMamba and MP-SENet used it: float signals of equal length (so no eps),
# each divided by 32768 for its WSS only, Python's round for the 95 % of frames kept, NaN frames
# sorted last by np.sort, ratings limited by min(5, max(1, x)). PESQ is the pesq package's wb.
KLATT_CENTRES = [50.0, 120.0, 190.0, 260.0, 330.0, 400.0, 470.0, 540.0, 617.372, 703.378, 798.717, 904.128, 1020.38,
                 1148.30, 1288.72, 1442.54, 1610.70, 1794.16, 1993.93, 2211.08, 2446.71, 2701.97, 2978.04, 3276.17,
                 3597.63]  # fmt: skip
KLATT_BANDWIDTHS = [70.0] * 7 + [77.3724, 86.0056, 95.3398, 105.411, 116.256, 127.914, 140.423, 153.823, 168.154,
                                 183.457, 199.776, 217.153, 235.631, 255.255, 276.072, 298.126, 321.465, 346.136]  # fmt: skip


def _frame_positions(size: int, rate: int) -> tuple[int, np.ndarray, list[int]]:
    length = round(30 * rate / 1000)
    skip = length // 4
    hann = 0.5 * (1 - np.cos(2 * np.pi * np.arange(1, length + 1) / (length + 1)))
    return length, hann, [k * skip for k in range(int(size / skip - length / skip))]


def _peak_energy(energy: np.ndarray, slope: np.ndarray, band: int) -> float:
    """The energy the reference's peak search lands on: rightwards on a rising slope, else leftwards."""
    n = band
    if slope[band] > 0:
        while n < len(slope) and slope[n] > 0:
            n += 1
        return energy[n - 1]
    while n >= 0 and slope[n] <= 0:
        n -= 1
    return energy[n + 1]


def _transcribed_wss(clean: np.ndarray, processed: np.ndarray, rate: int, scale: float) -> np.ndarray:
    length, hann, starts = _frame_positions(clean.size, rate)
    n_fft = int(2 ** np.ceil(np.log2(2 * length)))
    half, top = n_fft // 2, rate // 2
    bins = np.arange(half)
    filters = []
    for centre, width in zip(KLATT_CENTRES, KLATT_BANDWIDTHS):
        shape = np.exp(
            -11 * ((bins - np.floor(centre / top * half)) / (width / top * half)) ** 2
            + np.log(KLATT_BANDWIDTHS[0])
            - np.log(width)
        )
        filters.append(np.where(shape > np.exp(-30 / (2 * 2.303)), shape, 0.0))
    distances = []
    for start in starts:
        energies, slopes, weights = [], [], []
        for x in (clean, processed):
            spectrum = np.abs(np.fft.fft(x[start : start + length] * scale * hann, n_fft)[:half]) ** 2
            energy = 10 * np.log10(np.maximum([f @ spectrum for f in filters], 1e-10))
            slope = energy[1:] - energy[:-1]
            peaks = np.array([_peak_energy(energy, slope, i) for i in range(24)])
            weights.append(20 / (20 + energy.max() - energy[:24]) * (1 / (1 + peaks - energy[:24])))
            energies.append(energy)
            slopes.append(slope)
        w = (weights[0] + weights[1]) / 2
        distances.append(np.sum(w * (slopes[0] - slopes[1]) ** 2) / np.sum(w))
    return np.array(distances)


def _lpc(frame: np.ndarray, order: int) -> tuple[np.ndarray, np.ndarray]:
    """Autocorrelation lags 0..order and the polynomial [1, -a_1, ..., -a_p] (Levinson-Durbin)."""
    lags = np.array([frame[: frame.size - k] @ frame[k:] for k in range(order + 1)])
    a, error = np.zeros(order), lags[0]
    for i in range(order):
        reflection = (lags[i + 1] - a[:i] @ lags[i:0:-1]) / error
        a[:i] = a[:i] - reflection * a[:i][::-1]
        a[i] = reflection
        error = (1 - reflection**2) * error
    return lags, np.concatenate([[1.0], -a])


def _transcribed_llr(clean: np.ndarray, processed: np.ndarray, rate: int) -> np.ndarray:
    length, hann, starts = _frame_positions(clean.size, rate)
    order = 10 if rate < 10000 else 16
    ratios = []
    with np.errstate(invalid="ignore", divide="ignore"):  # a silent frame has no LPC model: 0/0
        for start in starts:
            lags_c, a_c = _lpc(clean[start : start + length] * hann, order)
            _, a_p = _lpc(processed[start : start + length] * hann, order)
            ratios.append(np.log((a_p @ toeplitz(lags_c) @ a_p) / (a_c @ toeplitz(lags_c) @ a_c)))
    return np.array(ratios)


def _transcribed_segsnr(clean: np.ndarray, processed: np.ndarray, rate: int) -> np.ndarray:
    length, hann, starts = _frame_positions(clean.size, rate)
    eps = np.spacing(1)
    snrs = []
    for start in starts:
        c, p = clean[start : start + length] * hann, processed[start : start + length] * hann
        snrs.append(min(35, max(-10, 10 * math.log10(np.sum(c**2) / (np.sum((c - p) ** 2) + eps) + eps))))
    return np.array(snrs)


def transcribed_composite(clean: np.ndarray, processed: np.ndarray, definition: str) -> dict[str, float]:
    """csig/cbak/covl of `definition` at 16 kHz, frame by frame as composite.m or compute_metrics.py."""
    pesq_mos = pesq_package.pesq(SR, clean, processed, "wb")
    if definition == "loizou":
        clean, processed = clean + np.spacing(1), processed + np.spacing(1)
        kept = lambda n: math.floor(n * 0.95 + 0.5)  # noqa: E731 (MATLAB's round)
    else:
        kept = lambda n: round(n * 0.95)  # noqa: E731
    wss = np.sort(_transcribed_wss(clean, processed, SR, 1.0 if definition == "loizou" else 1 / 32768))
    llr = np.sort(_transcribed_llr(clean, processed, SR))
    wss, llr = np.mean(wss[: kept(wss.size)]), np.mean(llr[: kept(llr.size)])
    segsnr = np.mean(_transcribed_segsnr(clean, processed, SR))
    ratings = {
        "csig": 3.093 - 1.029 * llr + 0.603 * pesq_mos - 0.009 * wss,
        "cbak": 1.634 + 0.478 * pesq_mos - 0.007 * wss + 0.063 * segsnr,
        "covl": 1.594 + 0.805 * pesq_mos - 0.512 * llr - 0.007 * wss,
    }
    return {f"{name}_{definition}": min(5, max(1, value)) for name, value in ratings.items()}


def _degraded(clean: np.ndarray, noisy: np.ndarray, version: str) -> np.ndarray:
    if version == "babble":
        return noisy
    if version == "half the babble, 60 ms dropped":  # 5 frames silent in the estimate: trimmed, not NaN
        estimate = clean + 0.5 * (noisy - clean)
        estimate[20000:20960] = 0.0
        return estimate
    estimate = 0.8 * (clean + 0.5 * (noisy - clean))
    estimate[240:] += 0.4 * estimate[:-240]  # a 15 ms echo
    return estimate


@pytest.mark.parametrize("version", ["babble", "half the babble, 60 ms dropped", "half the babble, 15 ms echo"])
def test_both_composite_definitions_equal_their_transcriptions(pair, version):
    clean, noisy = pair
    estimate = _degraded(clean, noisy, version)
    values, reasons = speech_metrics(clean, estimate, noisy, SR, dnsmos=False)
    expected = {**transcribed_composite(clean, estimate, "loizou"), **transcribed_composite(clean, estimate, "cmgan")}
    assert {k: values[k] for k in COMPOSITE_COLUMNS} == pytest.approx(expected, abs=1e-6)
    assert not set(COMPOSITE_COLUMNS) & set(reasons)
    assert values["csig_cmgan"] > values["csig_loizou"]  # the published tables' WSS counts fewer bands


def test_the_published_tables_composite_is_undefined_where_it_divides_zero_by_zero(pair):
    """A reference with 0.4 s of digital silence: more silent frames than the 5 % trim drops.
    compute_metrics.py's LLR is then NaN and its script reports CSIG = COVL = 1.0 (max(1, nan));
    here they are NaN with the reason, and CBAK, which needs no LLR, is scored."""
    clean, noisy = pair
    pause = np.zeros(int(0.4 * SR))
    clean, noisy = np.concatenate([pause, clean]), np.concatenate([pause, noisy])
    estimate = clean + 0.5 * (noisy - clean)
    values, reasons = speech_metrics(clean, estimate, noisy, SR, dnsmos=False)
    published = transcribed_composite(clean, estimate, "cmgan")
    assert published["csig_cmgan"] == published["covl_cmgan"] == 1.0
    assert np.isnan(values["csig_cmgan"]) and np.isnan(values["covl_cmgan"])
    # 6400 + 237 leading zeros hold 52 whole 480-sample frames (hop 120) of 462; the trim drops 462 - 439.
    assert reasons["csig_cmgan"].startswith("CMGAN's LLR is undefined: 52 of 462 frames are digitally silent")
    assert "more than the 23 its 5 % trim drops" in reasons["covl_cmgan"]
    assert values["cbak_cmgan"] == pytest.approx(published["cbak_cmgan"], abs=1e-6)
    loizou = {k: values[k] for k in COMPOSITE_COLUMNS if k.endswith("_loizou")}
    assert loizou == pytest.approx(transcribed_composite(clean, estimate, "loizou"), abs=1e-6)


def test_the_trim_keeps_frames_by_each_definitions_rounding():
    assert [composite._kept(n, "loizou") for n in (29, 30, 31)] == [28, 29, 29]  # 28.5 rounds up in MATLAB
    assert [composite._kept(n, "cmgan") for n in (29, 30, 31)] == [28, 28, 29]  # and to even in Python


def test_composite_ratings_are_limited_to_one_to_five():
    assert composite.combine(pesq=4.64, llr=0.0, wss=0.0, segsnr=35.0) == {"csig": 5.0, "cbak": 5.0, "covl": 5.0}
    assert composite.combine(pesq=1.04, llr=2.0, wss=150.0, segsnr=-10.0) == {"csig": 1.0, "cbak": 1.0, "covl": 1.0}


# --- DNSMOS ----------------------------------------------------------------------------------

# Measured with speechmos 0.0.1.1 (DNSMOS P.835 sig_bak_ovr.onnx) and onnxruntime 1.32 on
# x86-64. No published DNSMOS values exist for these files; the tolerance covers the float32
# differences between onnxruntime versions, thread counts and CPUs. The clean file rates
# well, the same speech in 0 dB babble near the bottom of the scale, as expected.
DNSMOS_CLEAN = {"dnsmos_sig": 3.5518, "dnsmos_bak": 4.0475, "dnsmos_ovrl": 3.2458}
DNSMOS_BABBLE = {"dnsmos_sig": 1.2047, "dnsmos_bak": 1.1683, "dnsmos_ovrl": 1.0889}
DNSMOS_TOLERANCE = 0.01


@pytest.fixture(scope="module")
def noisy_nonintrusive(pair):
    return nonintrusive_metrics(pair[1], SR)


def test_dnsmos_of_the_clean_file_is_pinned(pair):
    assert dnsmos.dnsmos(pair[0], SR) == pytest.approx(DNSMOS_CLEAN, abs=DNSMOS_TOLERANCE)


def test_a_recording_without_reference_gets_dnsmos_and_reasons_for_the_rest(noisy_nonintrusive):
    values, reasons = noisy_nonintrusive
    assert list(values) == list(SPEECH_COLUMNS)
    assert {k: values[k] for k in DNSMOS_COLUMNS} == pytest.approx(DNSMOS_BABBLE, abs=DNSMOS_TOLERANCE)
    assert set(reasons) == set(INTRUSIVE_COLUMNS)
    assert all(np.isnan(values[k]) and reasons[k] == "no clean reference" for k in INTRUSIVE_COLUMNS)


def test_dnsmos_on_one_thread_equals_the_default(pair, noisy_nonintrusive):
    previous = dnsmos._threads  # put back as found: an all-cores session left here hangs later forks
    try:
        dnsmos.set_threads(1)
        single = dnsmos.dnsmos(pair[1], SR)
    finally:
        dnsmos.set_threads(previous)
    assert single == pytest.approx({k: noisy_nonintrusive[0][k] for k in DNSMOS_COLUMNS}, abs=1e-4)


# --- all metrics of an item, and NaN with a reason ---------------------------------------------


def test_speech_metrics_gives_every_column_and_the_improvement(pair):
    clean, noisy = pair
    values, reasons = speech_metrics(clean, clean + 0.3 * (noisy - clean), noisy, SR, dnsmos=False)
    assert list(values) == list(SPEECH_COLUMNS)
    assert reasons == dict.fromkeys(DNSMOS_COLUMNS, "DNSMOS was not requested")
    assert all(np.isfinite(values[k]) for k in INTRUSIVE_COLUMNS)
    assert values["si_snr_i"] == pytest.approx(values["si_snr"] - values["si_snr_input"])
    assert values["si_snr_i"] > 10.0
    assert values["pesq_wb"] > pesq(clean, noisy, SR, "wb")
    assert 1.0 < values["covl_loizou"] < values["csig_loizou"] < 5.0


@pytest.mark.parametrize("scale", [0.0, 1e-5])
def test_a_silent_estimate_gets_nan_with_a_reason_and_no_improvement(pair, scale):
    clean, noisy = pair
    values, reasons = speech_metrics(clean, scale * noisy, noisy, SR)
    unmeasured = [k for k in SPEECH_COLUMNS if k != "si_snr_input"]
    assert all(np.isnan(values[k]) for k in unmeasured)
    assert set(reasons) == set(unmeasured)
    assert all("estimate is" in reasons[k] and "silent" in reasons[k] for k in unmeasured)
    assert values["si_snr_input"] == pytest.approx(si_snr(noisy, clean))


def test_a_silent_mixture_leaves_the_estimate_scored_but_no_improvement(pair):
    clean, noisy = pair
    values, reasons = speech_metrics(clean, noisy, np.zeros_like(noisy), SR, dnsmos=False)
    assert np.isnan(values["si_snr_input"]) and np.isnan(values["si_snr_i"])
    assert "mixture is digitally silent" in reasons["si_snr_i"]
    assert values["si_snr"] == pytest.approx(si_snr(noisy, clean))


def test_a_silent_reference_makes_every_intrusive_metric_nan(pair):
    _, noisy = pair
    values, reasons = speech_metrics(np.zeros_like(noisy), noisy, noisy, SR, dnsmos=False)
    assert all(np.isnan(values[k]) and "reference is digitally silent" in reasons[k] for k in INTRUSIVE_COLUMNS)


def test_a_too_short_item_gets_reasons_for_pesq_stoi_and_the_composite(pair):
    clean, noisy = pair
    values, reasons = speech_metrics(clean[:4000], noisy[:4000], noisy[:4000], SR, dnsmos=False)
    assert "no utterances" in reasons["pesq_wb"] and "no utterances" in reasons["csig_cmgan"]
    assert "STOI" in reasons["estoi"]
    assert np.isfinite(values["si_snr"]) and values["si_snr_i"] == 0.0


# --- a late or early estimate -------------------------------------------------------------------


def _shifted(audio: np.ndarray, samples: int) -> np.ndarray:
    """`audio` delayed by `samples` (advanced when negative), at the same length."""
    out = np.zeros_like(audio)
    if samples >= 0:
        out[samples:] = audio[: audio.size - samples]
    else:
        out[:samples] = audio[-samples:]
    return out


@pytest.mark.parametrize(
    ("ms", "reason"),
    [
        (5, "the estimate is 80 samples late (5.0 ms)"),
        (30, "the estimate is 480 samples late (30.0 ms)"),
        (-20, "the estimate is 320 samples early (20.0 ms)"),
    ],
)
def test_a_late_or_early_estimate_is_flagged_with_its_lag(pair, ms, reason):
    clean, noisy = pair
    enhanced = clean + 0.3 * (noisy - clean)
    values, reasons = speech_metrics(clean, _shifted(enhanced, ms * SR // 1000), noisy, SR, dnsmos=False)
    assert all(np.isnan(values[k]) and reasons[k] == reason for k in ALIGNED_COLUMNS)
    # PESQ finds the delay itself: its score stays that of the aligned estimate, within PESQ's own jitter.
    assert values["pesq_wb"] == pytest.approx(pesq(clean, enhanced, SR, "wb"), abs=0.1)
    assert values["si_snr_input"] == pytest.approx(si_snr(noisy, clean))


@pytest.mark.parametrize("change", ["none", "one sample late", "polarity inverted", "0.3 ms smoothing"])
def test_an_aligned_estimate_is_not_flagged(pair, change):
    clean, noisy = pair
    enhanced = clean + 0.3 * (noisy - clean)
    estimate = {
        "none": enhanced,
        "one sample late": _shifted(enhanced, 1),
        "polarity inverted": -enhanced,
        "0.3 ms smoothing": signal.lfilter([0.2], [1.0, -0.8], enhanced),  # one pole: 3 samples of group delay
    }[change]
    values, reasons = speech_metrics(clean, estimate, noisy, SR, dnsmos=False)
    assert not set(ALIGNED_COLUMNS) & set(reasons), reasons
    assert np.isfinite(values["si_snr"]) and np.isfinite(values["stoi"])


def test_an_estimate_that_resembles_its_reference_at_no_lag_is_scored_not_excused(pair):
    clean, noisy = pair
    unrelated = np.roll(noisy, SR // 2)  # the same speech half a second away: no lag within 100 ms fits
    values, reasons = speech_metrics(clean, unrelated, noisy, SR, dnsmos=False)
    assert not set(ALIGNED_COLUMNS) & set(reasons)
    assert values["si_snr"] < -15.0


def test_speech_metrics_refuses_unaligned_signals(pair):
    clean, noisy = pair
    with pytest.raises(ValueError, match="length"):
        speech_metrics(clean, clean[:-10], noisy, SR)


# --- long items --------------------------------------------------------------------------------


def _six_minutes(clean: np.ndarray, noisy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A 6-minute talk: the PESQ sentence over and over at varying levels with 0.3-1 s pauses."""
    rng = np.random.default_rng(0)
    reference, mixture = [], []
    while sum(part.size for part in reference) < 360 * SR:
        pause, gain = np.zeros(int(rng.uniform(0.3, 1.0) * SR)), rng.uniform(0.5, 1.5)
        reference += [pause, gain * clean]
        mixture += [pause, gain * noisy]
    return np.concatenate(reference)[: 360 * SR], np.concatenate(mixture)[: 360 * SR]


@pytest.mark.slow  # about 20 s of CPU: 45 s to 2 min of wall time on the shared 2-core machine
def test_a_six_minute_item_is_scored_in_segments_without_a_crash(pair):
    # The bare pesq package dies with SIGSEGV on this item (more than 50 utterances).
    reference, mixture = _six_minutes(*pair)
    estimate = reference + 0.3 * (mixture - reference)
    segments = pesq_segments(reference, SR)
    assert segments[0].start == 0 and segments[-1].stop == reference.size
    assert all(a.stop == b.start for a, b in zip(segments, segments[1:]))
    assert all(0.5 * PESQ_SEGMENT_S * SR <= s.stop - s.start <= PESQ_SEGMENT_S * SR for s in segments[:-1])
    assert not np.any(reference[[s.stop for s in segments[:-1]]])  # every cut falls in a pause
    values, reasons = speech_metrics(reference, estimate, mixture, SR, dnsmos=False)
    # Its pauses are digital silence, more than CMGAN's trim drops: its CSIG and COVL are undefined.
    assert set(reasons) == {*DNSMOS_COLUMNS, "csig_cmgan", "covl_cmgan"}
    assert reasons["csig_cmgan"].startswith("CMGAN's LLR is undefined")
    first = segments[0]
    assert values["pesq_wb"] == pytest.approx(pesq(reference[first], estimate[first], SR, "wb"), abs=0.1)


def test_a_long_item_with_a_silent_stretch_of_estimate_is_not_scored_on_the_rest(pair):
    reference, _ = _six_minutes(*pair)
    reference = reference[: 70 * SR]
    estimate = reference.copy()
    estimate[: 35 * SR] = 0.0  # the whole first segment
    with pytest.raises(Unmeasurable, match=r"digitally silent from 0\.0 s"):
        pesq(reference, estimate, SR, "wb")


# --- one thread per worker -------------------------------------------------------------------


def _thread_counts() -> dict:
    from threadpoolctl import threadpool_info

    return {"pools": [pool["num_threads"] for pool in threadpool_info()], "dnsmos": dnsmos._threads}


def test_a_single_thread_worker_pins_every_pool_to_one_thread():
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(1, mp_context=context, initializer=single_thread_worker) as pool:
        counts = pool.submit(_thread_counts).result()
    assert counts["pools"] and set(counts["pools"]) == {1}
    assert counts["dnsmos"] == 1


def test_provenance_names_the_package_versions():
    from importlib.metadata import version

    from sepflow.metrics.speech import provenance

    notes = provenance()
    assert f"pesq {version('pesq')}" in notes["pesq"] and f"speechmos {version('speechmos')}" in notes["dnsmos"]
    assert "CMGAN's compute_metrics.py" in notes["composite"] and "±100 ms" in notes["alignment"]


def test_provenance_names_the_composite_definition_the_table_shows():
    from sepflow.errors import SepflowError
    from sepflow.metrics.speech import provenance

    assert "as composite.m" in provenance("loizou")["composite"]
    with pytest.raises(SepflowError, match="unknown composite definition 'pesq'.*choose one of loizou, cmgan"):
        provenance("pesq")
