"""The report stage: read every metrics.csv and write the tables and the plot."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from sepflow.errors import SepflowError
from sepflow.report.plots import plot_metrics
from sepflow.report.tables import summarize, write_tables


def build_report(metrics_csvs: dict[tuple[str, str], str | Path], out_dir: str | Path) -> pd.DataFrame:
    """metrics_csvs maps (experiment, test set) to its per-item CSV; returns the summary."""
    frames = {}
    for key, path in metrics_csvs.items():
        try:
            frames[key] = pd.read_csv(path)
        except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise SepflowError(f"cannot read {path}: {exc}; rerun its evaluate rule.") from None
    out_dir = Path(out_dir)
    summary = summarize(frames)
    write_tables(summary, out_dir)
    plot_metrics(frames, out_dir / "metrics.png")
    print((out_dir / "summary.md").read_text())
    return summary
