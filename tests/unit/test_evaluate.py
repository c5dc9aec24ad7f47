"""Evaluating a folder of estimates against a test set: rows by task, one clear error for
each kind of bad file, the same result in parallel."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from threadpoolctl import threadpool_info, threadpool_limits

from sepflow.audio import read_audio, write_audio
from sepflow.errors import SepflowError
from sepflow.metrics.evaluate import evaluate_items, write_metrics_csv
from sepflow.metrics.speech import ALIGNED_COLUMNS, COMPOSITE_COLUMNS
from sepflow.metrics.tasks import LIBRARY_LOADERS, METRIC_SETS
from sepflow.report.tables import summarize

SR = 16000


# --- evaluating a folder ------------------------------------------------------------------


@pytest.fixture()
def paired_items(tmp_path, pesq_pair) -> tuple[list[dict], Path]:
    """Four overlapping 1.5 s items cut from the PESQ pair, with estimates at half the noise."""
    clean, noisy = pesq_pair
    enhanced_dir = tmp_path / "enhanced"
    items = []
    for k in range(4):
        start, stop = k * SR // 2, k * SR // 2 + 3 * SR // 2
        item = {
            "id": f"item_{k}",
            "mixture": tmp_path / f"noisy_{k}.wav",
            "references": {"speech": tmp_path / f"clean_{k}.wav"},
            "estimates": {"speech": enhanced_dir / f"item_{k}.wav"},
        }
        write_audio(item["references"]["speech"], clean[start:stop], SR)
        write_audio(item["mixture"], noisy[start:stop], SR)
        write_audio(enhanced_dir / f"item_{k}.wav", (clean + 0.5 * (noisy - clean))[start:stop], SR)
        items.append(item)
    return items, enhanced_dir


def test_evaluate_gives_one_finite_row_per_item_in_order(paired_items):
    items, enhanced_dir = paired_items
    df = evaluate_items(items, "speech", SR)
    assert df.columns[0] == "id" and {"pesq_wb", "stoi", "si_snr", "si_snr_i", "reasons"} <= set(df.columns)
    assert set(COMPOSITE_COLUMNS) <= set(df.columns) and "csig" not in df  # each definition named
    assert list(df["id"]) == [item["id"] for item in items]
    assert np.isfinite(df.drop(columns=["id", "reasons"]).to_numpy()).all()
    assert (df["si_snr_i"] > 3.0).all()


def test_evaluate_in_parallel_matches_serial(paired_items):
    items, enhanced_dir = paired_items
    pd.testing.assert_frame_equal(
        evaluate_items(items, "speech", SR, workers=1),
        evaluate_items(items, "speech", SR, workers=2),
    )


_loaded_in: list[int] = []  # the process that ran the probe's library loader


def _probe_rows(references, estimates, mixture, sample_rate) -> list[dict]:
    """A metric set that reports where it runs, how many threads the numerical libraries may
    use there, and which process loaded its libraries (a forked worker inherits the list)."""
    threads = max(pool["num_threads"] for pool in threadpool_info())
    return [{"pid": os.getpid(), "threads": threads, "loaded_in": _loaded_in[-1] if _loaded_in else None}]


@pytest.mark.parametrize("workers", [1, 2])
def test_workers_run_on_one_thread_with_libraries_loaded_by_the_caller_whose_threads_come_back(
    paired_items, monkeypatch, workers
):
    monkeypatch.setitem(METRIC_SETS, "probe", _probe_rows)
    monkeypatch.setitem(LIBRARY_LOADERS, "probe", lambda: _loaded_in.append(os.getpid()))
    items, _ = paired_items
    with threadpool_limits(limits=2):
        rows = evaluate_items(items, "probe", SR, workers=workers)
        after = {pool["num_threads"] for pool in threadpool_info()}
    assert (os.getpid() not in set(rows["pid"])) if workers > 1 else (set(rows["pid"]) == {os.getpid()})
    assert list(rows["threads"]) == [1] * len(items)
    assert list(rows["loaded_in"]) == [os.getpid()] * len(items)
    assert after == {2}


def test_dnsmos_libraries_are_loaded_before_the_workers_fork_only_when_dnsmos_is_asked_for():
    """In a fresh interpreter: librosa loads its feature modules lazily, seconds of imports
    that every forked worker would repeat if the parent had not loaded them."""
    check = (
        "import sys; from sepflow.metrics.tasks import LIBRARY_LOADERS as L; name = 'librosa.feature.spectral'; "
        "L['speech'](dnsmos=False); before = name in sys.modules; L['speech'](dnsmos=True); "
        "print(before, name in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "True"]


def test_a_missing_estimate_is_named(paired_items):
    items, enhanced_dir = paired_items
    (enhanced_dir / "item_2.wav").unlink()
    with pytest.raises(SepflowError, match=r"item_2\.wav.*enhance stage"):
        evaluate_items(items, "speech", SR, workers=2)


def test_a_wrong_sample_rate_is_named(paired_items):
    items, enhanced_dir = paired_items
    audio, _ = read_audio(enhanced_dir / "item_1.wav")
    write_audio(enhanced_dir / "item_1.wav", audio, 8000)
    with pytest.raises(SepflowError, match=r"item_1\.wav has sample rate 8000"):
        evaluate_items(items, "speech", SR)


def test_nan_audio_is_named(paired_items):
    items, enhanced_dir = paired_items
    audio, _ = read_audio(enhanced_dir / "item_0.wav")
    audio[0, 100] = np.nan
    sf.write(enhanced_dir / "item_0.wav", audio.T, SR, subtype="FLOAT")
    with pytest.raises(SepflowError, match=r"item_0\.wav holds NaN"):
        evaluate_items(items, "speech", SR)


def test_small_length_differences_are_cut_and_large_ones_refused(paired_items):
    items, enhanced_dir = paired_items
    audio, _ = read_audio(enhanced_dir / "item_0.wav")
    write_audio(enhanced_dir / "item_0.wav", audio[:, :-5], SR)
    assert np.isfinite(evaluate_items(items[:1], "speech", SR)["pesq_wb"]).all()
    write_audio(enhanced_dir / "item_0.wav", audio[:, : SR // 2], SR)
    with pytest.raises(SepflowError, match=r"item_0\.wav has 8000 samples"):
        evaluate_items(items[:1], "speech", SR)


def test_a_silent_reference_names_the_item_even_from_a_worker(paired_items):
    items, enhanced_dir = paired_items
    write_audio(items[3]["references"]["speech"], np.zeros(3 * SR // 2), SR)
    with pytest.raises(SepflowError, match="speech reference of item item_3 is silent"):
        evaluate_items(items, "speech", SR, workers=2)


def test_a_silent_estimate_gets_nan_with_a_reason_and_the_run_goes_on(paired_items):
    """Never 0 dB or 0.0 standing in for "could not measure": a silent estimate has no
    PESQ, STOI or SI-SNR(i), and the row says why."""
    items, enhanced_dir = paired_items
    write_audio(enhanced_dir / "item_1.wav", np.zeros(3 * SR // 2), SR)
    df = evaluate_items(items, "speech", SR, dnsmos=False)
    for column in ("pesq_wb", "stoi", "si_snr", "si_snr_i"):
        assert df[column].isna().tolist() == [False, True, False, False], column
    assert "silent" in df["reasons"][1]
    assert np.isfinite(df.loc[[0, 2, 3], ["stoi", "si_snr", "si_snr_i"]].to_numpy()).all()


def test_a_30_ms_late_estimate_is_flagged_with_its_lag_and_counted_as_failed(paired_items):
    items, enhanced_dir = paired_items
    audio, _ = read_audio(enhanced_dir / "item_2.wav")
    write_audio(enhanced_dir / "item_2.wav", np.concatenate([np.zeros((1, 480)), audio[:, :-480]], axis=1), SR)
    df = evaluate_items(items, "speech", SR, dnsmos=False)
    for column in ALIGNED_COLUMNS:
        assert df[column].isna().tolist() == [False, False, True, False], column
    assert "si_snr: the estimate is 480 samples late (30.0 ms)" in df["reasons"][2]
    assert np.isfinite(df["pesq_wb"]).all() and np.isfinite(df["si_snr_input"]).all()  # PESQ aligns itself
    row = summarize({("late", "t"): df}).iloc[0]
    assert row["si_snr_i_failed"] == 1 and row["stoi_failed"] == 1 and row["pesq_wb_failed"] == 0


def test_metrics_csv_is_written_whole(tmp_path, paired_items):
    items, enhanced_dir = paired_items
    df = evaluate_items(items[:2], "speech", SR)
    path = write_metrics_csv(df, tmp_path / "out" / "metrics.csv")
    # Reasons are text; where no metric failed they are empty, which CSV reads back as NaN.
    pd.testing.assert_frame_equal(pd.read_csv(path).drop(columns="reasons"), df.drop(columns="reasons"))
    assert pd.read_csv(path, dtype={"reasons": str})["reasons"].fillna("").tolist() == df["reasons"].tolist()
    assert [p.name for p in path.parent.iterdir()] == ["metrics.csv"]
