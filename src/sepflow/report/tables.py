"""Summary tables over experiments and test sets: mean, 95% confidence interval, failures.

A metric that could not be computed for an item is NaN in the per-item table. The summary
averages the items that have a value and counts the others in `{metric}_failed`, so a
model that silences some inputs is flagged instead of being averaged on fewer items unseen.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from sepflow.files import write_atomic

LABELS = {
    "pesq": "PESQ",
    "stoi": "STOI",
    "si_snr": "SI-SNR (dB)",
    "si_snr_noisy": "input SI-SNR (dB)",
    "si_snr_i": "SI-SNRi (dB)",
    "sdr": "SDR (dB)",
}
DB_TAGS = ("snr", "sdr", "sir", "sar")


def _ci95(values: pd.Series) -> float:
    """Half-width of the 95% confidence interval of the mean (Student t); NaN below 2 values."""
    values = values.dropna()
    if len(values) < 2:
        return float("nan")
    return float(stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values)))


def _metric_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c != "id" and pd.api.types.is_numeric_dtype(frame[c])]


def summarize(frames: dict[tuple[str, str], pd.DataFrame]) -> pd.DataFrame:
    """One row per (experiment, test set), in the order given: n items and, per metric,
    `{metric}_mean`, `{metric}_ci95` (half-width) and `{metric}_failed` (NaN items)."""
    if not frames:
        raise ValueError("no per-item metric tables to summarize")
    rows = []
    for (experiment, testset), frame in frames.items():
        row = {"experiment": experiment, "testset": testset, "n": len(frame)}
        for metric in _metric_columns(frame):
            values = frame[metric]
            row[f"{metric}_mean"] = values.mean()
            row[f"{metric}_ci95"] = _ci95(values)
            row[f"{metric}_failed"] = int(values.isna().sum())
        rows.append(row)
    summary = pd.DataFrame(rows)
    # Int64 keeps counts integral where a metric does not apply to some rows (left empty).
    failed = [c for c in summary.columns if c.endswith("_failed")]
    return summary.astype({c: "Int64" for c in failed})


def _decimals(metric: str) -> int:
    """dB values to 2 decimals; PESQ, STOI and other scores to 3."""
    return 2 if any(tag in metric for tag in DB_TAGS) else 3


def _cell(row: pd.Series, metric: str) -> str:
    mean, ci, failed = row[f"{metric}_mean"], row[f"{metric}_ci95"], row[f"{metric}_failed"]
    if pd.isna(failed):  # the metric does not apply to this experiment's task
        return ""
    if pd.isna(mean):
        text = "n/a"
    else:
        d = _decimals(metric)
        text = f"{mean:.{d}f}" if pd.isna(ci) else f"{mean:.{d}f} ± {ci:.{d}f}"
    return f"{text} ({int(failed)} failed)" if failed else text


def to_markdown(summary: pd.DataFrame) -> str:
    """A readable table: one column per metric showing mean ± 95% CI and any failures."""
    metrics = [c.removesuffix("_mean") for c in summary.columns if c.endswith("_mean")]
    table = pd.DataFrame(
        {
            "experiment": summary["experiment"],
            "test set": summary["testset"],
            "items": summary["n"],
            **{LABELS.get(m, m): summary.apply(_cell, axis=1, metric=m) for m in metrics},
        }
    )
    return table.to_markdown(index=False) + "\n\nMean ± half-width of the 95% confidence interval.\n"


def write_tables(summary: pd.DataFrame, out_dir: str | os.PathLike) -> tuple[Path, Path]:
    """Write `summary.csv` (full precision) and `summary.md` (rounded) into out_dir."""
    out_dir = Path(out_dir)
    csv_path = write_atomic(out_dir / "summary.csv", summary.to_csv(index=False))
    md_path = write_atomic(out_dir / "summary.md", to_markdown(summary))
    return csv_path, md_path
