"""What a results folder says about a checkpoint, for its model card: at results/EXP/model.pt,
the training history (results/EXP/train/history.csv) and the report's test-set means
(results/report/summary.csv, rows of EXP). Anything absent stays absent."""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan


def training_from_history(history: Path) -> dict:
    """steps: the last step trained; best_step: where validation loss was lowest (model.pt)."""
    rows = list(csv.DictReader(history.open()))
    if not rows:
        return {}
    best = min(rows, key=lambda row: _number(row["valid_loss"]) if row["valid_loss"] else math.inf)
    return {"steps": int(rows[-1]["step"]), "best_step": int(best["step"])}


def scores_from_summary(summary: Path, experiment: str) -> dict:
    """{test set (and source, for music): {metric: mean, ..., "n": items}} of `experiment`."""
    scores = {}
    with summary.open() as f:
        for row in csv.DictReader(f):
            if row["experiment"] != experiment:
                continue
            key = row["testset"] + (f" ({row['source']})" if row.get("source") else "")
            means = {c.removesuffix("_mean"): _number(v) for c, v in row.items() if c.endswith("_mean") and v != ""}
            scores[key] = {"n": int(row["n"]), **means}
    return scores


def results_provenance(checkpoint: str | os.PathLike) -> tuple[dict | None, dict | None]:
    """(training, scores) found beside a checkpoint at results/EXP/model.pt; None for what is not there."""
    path = Path(checkpoint).resolve()
    if path.name != "model.pt":
        return None, None
    experiment, results = path.parent.name, path.parent.parent
    history = path.parent / "train" / "history.csv"
    summary = results / "report" / "summary.csv"
    training = training_from_history(history) if history.is_file() else None
    scores = scores_from_summary(summary, experiment) if summary.is_file() else None
    return training or None, scores or None
