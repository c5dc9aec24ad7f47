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

from sepflow.errors import SepflowError
from sepflow.files import write_atomic

COMPOSITE = {"cmgan": "CMGAN", "loizou": "composite.m"}
"""The definitions of CSIG/CBAK/COVL in the per-item tables (columns `{measure}_{definition}`,
sepflow.metrics.composite) and how a header names them. A readable table shows one, chosen by
`composite`; "cmgan" by default, so that a table compares like with like with the papers it is
read beside (their tables used CMGAN's compute_metrics.py); the CSVs keep both."""
COMPOSITE_MEASURES = ("csig", "cbak", "covl")

LABELS = {
    "pesq": "PESQ",
    "pesq_wb": "PESQ wb",
    "pesq_nb": "PESQ nb",
    "stoi": "STOI",
    "estoi": "ESTOI",
    "si_snr": "SI-SNR (dB)",
    "snr": "SNR (dB)",
    "si_snr_noisy": "input SI-SNR (dB)",
    "si_snr_input": "input SI-SNR (dB)",
    "si_snr_i": "SI-SNRi (dB)",
    "pesq_wb_gain": "PESQ wb gain",
    "stoi_gain": "STOI gain",
    **{f"{m}_{d}": f"{m.upper()} ({name})" for d, name in COMPOSITE.items() for m in COMPOSITE_MEASURES},
    "dnsmos_sig": "DNSMOS SIG",
    "dnsmos_bak": "DNSMOS BAK",
    "dnsmos_ovrl": "DNSMOS OVRL",
    "sdr": "SDR (dB)",
    "sir": "SIR (dB)",
    "sar": "SAR (dB)",
    "isr": "ISR (dB)",
    "si_sdr": "SI-SDR (dB)",
}
DB_TAGS = ("snr", "sdr", "sir", "sar", "isr")
NOT_METRICS = ("id", "source", "reasons")
"""Per-item columns that describe an item rather than score it (reasons may read as an
all-NaN number column when no metric failed)."""
STATISTICS = ("mean", "ci95", "median", "failed")
"""The columns summarize() gives each metric, as {metric}_{statistic}."""
MODEL_COLUMNS = {"parameters": "parameters", "rtf": "RTF (1 thread)"}
"""Facts of trained models that the summary carries when the report measured them."""


def _ci95(values: pd.Series) -> float:
    """Half-width of the 95% confidence interval of the mean (Student t); NaN below 2 values."""
    values = values.dropna()
    if len(values) < 2:
        return float("nan")
    return float(stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values)))


def _metric_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c not in NOT_METRICS and pd.api.types.is_numeric_dtype(frame[c])]


def _by_source(frame: pd.DataFrame) -> list[tuple[str | None, pd.DataFrame]]:
    """Music rows come one per item and source: summarise each source on its own."""
    if "source" not in frame:
        return [(None, frame)]
    return [(source, part) for source, part in frame.groupby("source", sort=False)]


GAINS = ("pesq_wb", "stoi")
"""Metrics whose per-item change over the unprocessed input is tabulated as `{metric}_gain`
(SI-SNR has its own, `si_snr_i`): a paired difference, so its interval says whether a
model helps, which two overlapping intervals of the means cannot."""


def with_gains(frames: dict[tuple[str, str], pd.DataFrame], inputs: dict[str, str]) -> dict:
    """Each frame with `{metric}_gain` beside `{metric}`, item by item against the frame of
    its test set's unprocessed input (`inputs`: {test set: experiment}); frames of test sets
    without an input, or without the metric, are returned as they are."""
    out = {}
    for (experiment, testset), frame in frames.items():
        base = frames.get((inputs.get(testset), testset))
        gains = [m for m in GAINS if m in frame and base is not None and m in base]
        if gains:
            keys = [k for k in ("id", "source") if k in frame]
            aligned = frame[keys].merge(base[keys + gains], on=keys, how="left", validate="one_to_one", indicator=True)
            if (aligned["_merge"] != "both").any():
                missing = aligned.loc[aligned["_merge"] != "both", "id"].tolist()[:3]
                raise ValueError(f"{experiment} on {testset} has items its input row lacks: {missing}")
            frame = frame.copy()
            for metric in gains:
                frame.insert(frame.columns.get_loc(metric) + 1, f"{metric}_gain", frame[metric] - aligned[metric])
        out[(experiment, testset)] = frame
    return out


def summarize(frames: dict[tuple[str, str], pd.DataFrame]) -> pd.DataFrame:
    """One row per (experiment, test set[, source]), in the order given: n items and, per
    metric, `{metric}_mean`, `{metric}_ci95` (half-width), `{metric}_median` and
    `{metric}_failed` (NaN items)."""
    if not frames:
        raise ValueError("no per-item metric tables to summarize")
    rows = []
    for (experiment, testset), frame in frames.items():
        for source, part in _by_source(frame):
            row = {
                "experiment": experiment,
                "testset": testset,
                **({"source": source} if source else {}),
                "n": len(part),
            }
            for metric in _metric_columns(part):
                values = part[metric]
                row[f"{metric}_mean"] = values.mean()
                row[f"{metric}_ci95"] = _ci95(values)
                row[f"{metric}_median"] = values.median()
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


def _median_cell(row: pd.Series, metric: str) -> str:
    median, failed = row[f"{metric}_median"], row[f"{metric}_failed"]
    if pd.isna(failed):
        return ""
    text = "n/a" if pd.isna(median) else f"{median:.{_decimals(metric)}f}"
    return f"{text} ({int(failed)} failed)" if failed else text


def _model_cell(value, column: str) -> str:
    if pd.isna(value):
        return ""
    if column == "parameters":
        return f"{value / 1e6:.3g} M" if value >= 1e5 else f"{int(value):,}"
    return f"{value:.3g}"


def check_composite(composite: str) -> None:
    """The one-line error naming the choices when `composite` names no definition."""
    if composite not in COMPOSITE:
        raise SepflowError(
            f"unknown composite definition {composite!r} (metrics.composite); choose one of {', '.join(COMPOSITE)}."
        )


def _shown(metric: str, composite: str) -> bool:
    """False for the composite columns of the definition a table does not show."""
    measure, _, definition = metric.rpartition("_")
    return not (measure in COMPOSITE_MEASURES and definition in COMPOSITE and definition != composite)


def readable_table(
    summary: pd.DataFrame, composite: str = "cmgan", labels: dict[str, str] | None = None
) -> tuple[pd.DataFrame, str]:
    """The rounded table of one test set and its note: one column per metric showing
    mean ± 95% CI and any failures, or for music (one row per source) the median over
    tracks, as SiSEC reports; then the models' parameters and real-time factor if known.
    Composite measures of the `composite` definition only; experiments by their `labels`."""
    check_composite(composite)
    metrics = [
        c.removesuffix("_failed")
        for c in summary.columns
        if c.endswith("_failed") and summary[c].notna().any() and _shown(c.removesuffix("_failed"), composite)
    ]  # those this test set has
    per_source = "source" in summary and summary["source"].notna().any()
    cell = _median_cell if per_source else _cell
    models = [c for c in MODEL_COLUMNS if c in summary and summary[c].notna().any()]
    table = pd.DataFrame(
        {
            "experiment": summary["experiment"].map(lambda e: (labels or {}).get(e, e)),
            "test set": summary["testset"],
            **({"source": summary["source"]} if per_source else {}),
            "items": summary["n"],
            **{LABELS.get(m, m): summary.apply(cell, axis=1, metric=m) for m in metrics},
            **{MODEL_COLUMNS[c]: summary[c].map(lambda v, c=c: _model_cell(v, c)) for c in models},
        }
    )
    note = "Median over tracks." if per_source else "Mean ± half-width of the 95% confidence interval."
    return table, note


def to_markdown(summary: pd.DataFrame, composite: str = "cmgan", labels: dict[str, str] | None = None) -> str:
    """The readable table of one test set as Markdown, with its note."""
    table, note = readable_table(summary, composite, labels)
    return table.to_markdown(index=False, disable_numparse=True) + f"\n\n{note}\n"  # keep the decimals


def by_testset(summary: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """The summary split per test set (each has one task, so one set of columns), in order,
    without the columns of metrics the test set does not have."""
    parts = []
    for testset, part in summary.groupby("testset", sort=False):
        # A metric this test set has keeps its columns even when no item could be scored
        # (its cells then say so); one it does not have (its failure count is empty) goes.
        absent = [c.removesuffix("_failed") for c in part if c.endswith("_failed") and part[c].isna().all()]
        empty = [f"{metric}_{stat}" for metric in absent for stat in STATISTICS if f"{metric}_{stat}" in part]
        if "source" in part and part["source"].isna().all():  # a speech set beside music ones
            empty.append("source")
        parts.append((testset, part.drop(columns=empty).reset_index(drop=True)))
    return parts


def report_markdown(summary: pd.DataFrame, composite: str = "cmgan", labels: dict[str, str] | None = None) -> str:
    """One table per test set."""
    return "\n".join(f"## {testset}\n\n{to_markdown(part, composite, labels)}" for testset, part in by_testset(summary))


def testset_slug(testset: str) -> str:
    """A file name for a test set: demo/test -> demo_test."""
    return testset.replace("/", "_")


def write_tables(
    summary: pd.DataFrame, out_dir: str | os.PathLike, composite: str = "cmgan", labels: dict[str, str] | None = None
) -> tuple[Path, Path]:
    """Write `summary.csv` (full precision, every column, experiments by name) and `summary.md`
    (rounded, as `readable_table` shows it) into out_dir, and per test set
    `tables/{dataset}_{split}.csv` and `.md`."""
    out_dir = Path(out_dir)
    csv_path = write_atomic(out_dir / "summary.csv", summary.to_csv(index=False))
    md_path = write_atomic(out_dir / "summary.md", report_markdown(summary, composite, labels))
    for testset, part in by_testset(summary):
        write_atomic(out_dir / "tables" / f"{testset_slug(testset)}.csv", part.to_csv(index=False))
        markdown = to_markdown(part, composite, labels)
        write_atomic(out_dir / "tables" / f"{testset_slug(testset)}.md", f"## {testset}\n\n{markdown}")
    return csv_path, md_path
