"""What a results folder says about a checkpoint, for its model card: at results/EXP/model.pt,
the training history (results/EXP/train/history.csv) and the report's test-set means
(results/report/summary.csv, rows of EXP). Anything absent stays absent."""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Iterable
from pathlib import Path

import torch


def _number(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def training_from_history(history: Path, checkpoint: Path) -> dict:
    """steps: the last step trained; best_step: the step of the kept model (which the step's
    own validation criterion chose, recorded in the checkpoint)."""
    rows = list(csv.DictReader(history.open()))
    if not rows:
        return {}
    kept = torch.load(checkpoint, map_location="cpu", weights_only=True).get("step")
    return {"steps": int(rows[-1]["step"]), **({"best_step": int(kept)} if kept is not None else {})}


def scores_from_rows(rows: Iterable[dict], experiment: str) -> dict:
    """{test set (and source, for music): {metric: mean, ..., "n": items}} of `experiment`,
    from summary rows (the report's summary.csv, or sepflow.report.tables.summarize)."""
    scores = {}
    for row in rows:
        if row["experiment"] != experiment:
            continue
        source = row.get("source")
        key = row["testset"] + (f" ({source})" if isinstance(source, str) and source else "")
        means = {c.removesuffix("_mean"): _number(v) for c, v in row.items() if c.endswith("_mean") and v != ""}
        scores[key] = {"n": int(row["n"]), **means}
    return scores


def scores_from_summary(summary: Path, experiment: str) -> dict:
    """The scores of `experiment` in a report's summary.csv (see scores_from_rows)."""
    with summary.open() as f:
        return scores_from_rows(csv.DictReader(f), experiment)


def results_provenance(checkpoint: str | os.PathLike) -> tuple[dict | None, dict | None]:
    """(training, scores) found beside a checkpoint at results/EXP/model.pt; None for what is not there."""
    path = Path(checkpoint).resolve()
    if path.name != "model.pt":
        return None, None
    experiment, results = path.parent.name, path.parent.parent
    history = path.parent / "train" / "history.csv"
    summary = results / "report" / "summary.csv"
    training = training_from_history(history, path) if history.is_file() else None
    scores = scores_from_summary(summary, experiment) if summary.is_file() else None
    return training or None, scores or None
