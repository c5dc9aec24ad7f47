"""Snakemake adapter: gather metrics, system facts, training histories and a few test items'
paths, then build the report (tables, figures, index.html)."""

from dataclasses import replace
from pathlib import Path

from sepflow.data.manifest import read_manifest
from sepflow.metrics.evaluate import manifest_items
from sepflow.metrics.speech import provenance as speech_provenance
from sepflow.plan.jobs import ReportJob
from sepflow.report.build import Examples, build_report
from sepflow.report.provenance import AGGREGATION, external_provenance, music_provenance, run_provenance
from sepflow.report.tuning import best_history
from sepflow.stage import stage
from sepflow.systems import system_from_json

EXAMPLE_ITEMS = 2

with stage(snakemake):
    job = ReportJob.from_json(snakemake.params.job)
    csvs = {(row.experiment, row.test_set.name): row.metrics for row in job.rows}
    run = run_provenance(job.config_hash)
    examples, provenance = {}, {}
    for testset, path in job.manifests.items():
        manifest = read_manifest(path, check_files=False)  # evaluation checked its files
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
        examples[testset] = Examples(manifest.sample_rate, list(manifest.sources), items)
        metrics = speech_provenance() if manifest.task == "speech" else music_provenance()
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
        csvs,
        Path(snakemake.output.page).parent,
        model_facts={name: values for name, values in facts.items() if values},
        histories=histories,
        examples=examples,
        provenance=provenance,
        run=run,
        inputs=job.inputs,
        tuning=job.tuning,
    )
