"""Summary tables and the metrics figure."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.image import imread

from sepflow.report.plots import plot_metrics
from sepflow.report.tables import summarize, write_tables

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _frame(pesq: list[float], seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = len(pesq)
    si_snr_noisy = rng.normal(5.0, 3.0, n)
    si_snr = si_snr_noisy + rng.normal(8.0, 2.0, n)
    return pd.DataFrame(
        {
            "id": [f"item_{k}" for k in range(n)],
            "pesq": pesq,
            "stoi": rng.uniform(0.8, 0.95, n),
            "si_snr": si_snr,
            "si_snr_noisy": si_snr_noisy,
            "si_snr_i": si_snr - si_snr_noisy,
        }
    )


@pytest.fixture()
def frames() -> dict[tuple[str, str], pd.DataFrame]:
    return {
        ("noisy", "demo_test"): _frame([1.0, 2.0, 3.0, 4.0], seed=0),
        ("spec_unet", "demo_test"): _frame([2.5, np.nan, 3.0, np.nan, 2.0], seed=1),
        ("spec_unet", "reverb_test"): _frame([2.2, 2.4, 2.6], seed=2),
    }


def test_summary_has_one_row_per_experiment_and_test_set_in_order(frames):
    summary = summarize(frames)
    assert list(zip(summary["experiment"], summary["testset"])) == list(frames)
    assert summary["n"].tolist() == [4, 5, 3]
    for metric in ("pesq", "stoi", "si_snr", "si_snr_noisy", "si_snr_i"):
        assert {f"{metric}_mean", f"{metric}_ci95", f"{metric}_failed"} <= set(summary.columns)


def test_summary_mean_and_ci_use_student_t(frames):
    row = summarize(frames).iloc[0]
    # mean 2.5, sample std 1.2910, t(0.975, 3) = 3.1824: half-width 3.1824 * 1.2910 / 2
    assert row["pesq_mean"] == pytest.approx(2.5)
    assert row["pesq_ci95"] == pytest.approx(2.0543, abs=1e-4)


def test_summary_counts_failed_items_instead_of_hiding_them(frames):
    summary = summarize(frames)
    assert summary["pesq_failed"].tolist() == [0, 2, 0]
    assert summary["stoi_failed"].tolist() == [0, 0, 0]
    assert summary.loc[1, "pesq_mean"] == pytest.approx(2.5)


def test_write_tables_gives_csv_and_readable_markdown(tmp_path, frames):
    summary = summarize(frames)
    csv_path, md_path = write_tables(summary, tmp_path / "report")
    assert csv_path.name == "summary.csv" and md_path.name == "summary.md"
    pd.testing.assert_frame_equal(pd.read_csv(csv_path), summary, check_dtype=False)

    markdown = md_path.read_text()
    for experiment, testset in frames:
        assert experiment in markdown and testset in markdown
    assert "| PESQ" in markdown and "SI-SNRi (dB)" in markdown
    assert "2.500 ± 2.054" in markdown  # PESQ to 3 decimals
    assert "(2 failed)" in markdown
    si_snr_i = summary.loc[0, "si_snr_i_mean"]
    assert f"{si_snr_i:.2f} ± " in markdown  # dB to 2 decimals


def test_plot_is_a_valid_png(tmp_path, frames):
    path = plot_metrics(frames, tmp_path / "plots" / "metrics.png")
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    image = imread(path)
    assert image.shape[0] > 300 and image.shape[1] > 300


def test_plot_leaves_out_metrics_no_frame_has(tmp_path):
    music = {("unet1d", "musdb_test"): pd.DataFrame({"id": ["a", "b"], "sdr": [4.0, 6.0]})}
    assert plot_metrics(music, tmp_path / "music.png", metrics=("sdr", "pesq")).is_file()
    with pytest.raises(ValueError, match="none of the requested metrics"):
        plot_metrics(music, tmp_path / "none.png")
