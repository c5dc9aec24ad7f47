"""Snakemake adapter: train one experiment (on the processes its recipe asks for) and write
its model checkpoint."""

import json

from sepflow.models.checkpoint import atomic_save
from sepflow.stage import stage
from sepflow.train.launch import train_job

with stage(snakemake):
    exp = json.loads(snakemake.params.experiment)
    name = snakemake.wildcards.experiment
    best = train_job(
        {
            "model": exp["model"],
            "args": exp["args"] or {},
            "train": exp["train"],
            "where": f"experiments.{name}",
            "data": exp["data"],
            "manifests": snakemake.params.manifests,
            "out_dir": snakemake.params.workdir,
            "device": snakemake.params.device,
            "name": name,
            "threads": snakemake.threads,
        }
    )
    atomic_save(best, snakemake.output.model)
    print(f"[{name}] best validation loss {best['valid_loss']:.4f} at step {best['step']} -> {snakemake.output.model}")
