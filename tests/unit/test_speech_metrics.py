"""Per-item speech metrics against published and reference-implementation values."""

from __future__ import annotations

import math
import multiprocessing
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest

from sepflow.audio import mix_at_snr, si_snr
from sepflow.metrics import composite, dnsmos
from sepflow.metrics.speech import (
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
    try:
        dnsmos.set_threads(1)
        single = dnsmos.dnsmos(pair[1], SR)
    finally:
        dnsmos.set_threads(0)
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
    assert 1.0 < values["covl"] < values["csig"] < 5.0


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
    assert "no utterances" in reasons["pesq_wb"] and "no utterances" in reasons["csig"]
    assert "STOI" in reasons["estoi"]
    assert np.isfinite(values["si_snr"]) and values["si_snr_i"] == 0.0


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
    assert set(reasons) == set(DNSMOS_COLUMNS)
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
