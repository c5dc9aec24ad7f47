"""The report job: gather what the tables, figures and page show (metrics, each system's facts,
training histories, a few test items' audio, provenance) from its spec, and build the report."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from sepflow.data.manifest import read_manifest
from sepflow.metrics.evaluate import manifest_items
from sepflow.metrics.speech import provenance as speech_provenance
from sepflow.plan.jobs import ReportJob
from sepflow.report.build import Examples, build_report
from sepflow.report.provenance import AGGREGATION, external_provenance, music_provenance, run_provenance
from sepflow.report.tuning import best_history
from sepflow.systems import system_from_json

EXAMPLE_ITEMS = 2
"""Test items per test set whose audio and spectrograms the page shows."""


def _examples(job: ReportJob, testset: str, manifest) -> Examples:
    """The first few items of a test set with every experiment's estimates."""
    shown = replace(manifest, items=manifest.items[:EXAMPLE_ITEMS])
    per_experiment = {
        row.experiment: manifest_items(shown, Path(row.metrics).parent / "enhanced")
        for row in job.rows
        if row.test_set.name == testset
    }
    first = next(iter(per_experiment.values()))
    items = [
        {**item, "estimates": {exp: rows[k]["estimates"] for exp, rows in per_experiment.items()}}
        for k, item in enumerate(first)
    ]
    return Examples(manifest.sample_rate, list(manifest.sources), items)


def run_report(job: ReportJob, out_dir: str | Path) -> None:
    """Gather metrics, system facts, training histories and example items; build the report."""
    run = run_provenance(job.config_hash)
    examples, provenance = {}, {}
    for testset, path in job.manifests.items():
        manifest = read_manifest(path, check_files=False)  # evaluation checked its files
        examples[testset] = _examples(job, testset, manifest)
        metrics = speech_provenance(job.composite) if manifest.task == "speech" else music_provenance()
        provenance[testset] = {**metrics, "aggregation": AGGREGATION[manifest.task], **run}
    facts = {
        name: system_from_json(text).facts(job.assets[name], job.rates[name]) for name, text in job.systems.items()
    }
    for row in job.rows:  # another toolkit's system: what ran, under its test set's table
        if "package" in facts[row.experiment]:
            provenance[row.test_set.name][row.experiment] = external_provenance(facts[row.experiment])
    models = {name: assets["model"] for name, assets in job.assets.items() if "model" in assets}
    histories = {exp: Path(path).parent / "train" / "history.csv" for exp, path in models.items()}
    histories.update({exp: best_history(files) for exp, files in job.tuning.items()})  # the kept trial's
    build_report(
        {(row.experiment, row.test_set.name): row.metrics for row in job.rows},
        Path(out_dir),
        model_facts={name: values for name, values in facts.items() if values},
        histories=histories,
        examples=examples,
        provenance=provenance,
        run=run,
        inputs=job.inputs,
        composite=job.composite,
        labels=job.labels,
        tuning=job.tuning,
    )
