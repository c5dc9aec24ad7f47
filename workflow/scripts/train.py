"""Snakemake adapter: train one experiment and write its model checkpoint."""

import json

from sepflow.data.datasets import experiment_data
from sepflow.models.checkpoint import atomic_save
from sepflow.stage import stage
from sepflow.train.loop import train
from sepflow.train.recipe import Recipe

with stage(snakemake):
    exp = json.loads(snakemake.params.experiment)
    name = snakemake.wildcards.experiment
    recipe = Recipe.from_config(exp["train"], f"experiments.{name}.train")
    data = experiment_data(exp["data"], snakemake.params.manifests, recipe.segment, recipe.seed,
                           f"experiments.{name}.data")
    best = train(exp["model"], exp["args"] or {}, recipe, data, snakemake.params.workdir,
                 device=snakemake.params.device, name=name)
    atomic_save(best, snakemake.output.model)
    print(f"[{name}] best validation loss {best['valid_loss']:.4f} at step {best['step']} -> {snakemake.output.model}")
