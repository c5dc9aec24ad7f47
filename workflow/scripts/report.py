"""Snakemake adapter: gather metrics, checkpoints, training histories and a few test items'
paths, then build the report (tables, figures, index.html)."""

from dataclasses import replace
from pathlib import Path

from sepflow.config import input_experiments
from sepflow.data.manifest import read_manifest
from sepflow.infer.speed import model_facts
from sepflow.metrics.evaluate import manifest_items
from sepflow.metrics.speech import provenance as speech_provenance
from sepflow.report.build import Examples, build_report
from sepflow.report.provenance import AGGREGATION, music_provenance, run_provenance
from sepflow.stage import stage

EXAMPLE_ITEMS = 2

with stage(snakemake):
    params, inputs = snakemake.params, snakemake.input
    targets = [tuple(t.split("|")) for t in params.targets]
    csvs = dict(zip(targets, inputs.metrics))
    run = run_provenance(params.config_hash)
    examples, provenance = {}, {}
    for testset, path in zip(params.testsets, inputs.manifests):
        manifest = read_manifest(path, check_files=False)  # evaluation checked its files
        shown = replace(manifest, items=manifest.items[:EXAMPLE_ITEMS])
        per_experiment = {
            exp: manifest_items(shown, Path(csv).parent / "enhanced")
            for (exp, ts), csv in csvs.items()
            if ts == testset
        }
        first = next(iter(per_experiment.values()))
        items = [
            {**item, "estimates": {exp: rows[k]["estimates"] for exp, rows in per_experiment.items()}}
            for k, item in enumerate(first)
        ]
        examples[testset] = Examples(manifest.sample_rate, list(manifest.sources), items)
        metrics = speech_provenance() if manifest.task == "speech" else music_provenance()
        provenance[testset] = {**metrics, "aggregation": AGGREGATION[manifest.task], **run}
    models = dict(zip(params.trained, inputs.models))
    build_report(
        csvs,
        Path(snakemake.output.page).parent,
        model_facts=model_facts(models),
        histories={exp: Path(path).parent / "train" / "history.csv" for exp, path in models.items()},
        examples=examples,
        provenance=provenance,
        run=run,
        inputs=input_experiments(snakemake.config),
    )
