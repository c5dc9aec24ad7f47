"""The export job: a trained experiment's ONNX graphs and its model card, which states the
training data (splits and their manifests' content hashes), the recipe, the steps trained and
the test-set scores the pipeline measured."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from sepflow.export import export_model
from sepflow.export.results import scores_from_rows, training_from_history
from sepflow.plan.jobs import ExportJob
from sepflow.report.tables import summarize


def run_export(job: ExportJob, out_dir: str | Path) -> Path:
    hashes = {split: json.loads(Path(path).read_text())["content_hash"] for split, path in job.manifests.items()}
    training = {
        "datasets": job.data,
        "splits": list(job.manifests),
        "content_hashes": hashes,
        "recipe": job.recipe,
        **training_from_history(Path(job.history), Path(job.checkpoint)),
    }
    frames = {(job.experiment, testset): pd.read_csv(path) for testset, path in job.metrics.items()}
    scores = scores_from_rows(summarize(frames).to_dict("records"), job.experiment)
    return export_model(job.checkpoint, out_dir, training=training, scores=scores, licence=job.licence)
