"""Snakemake adapter: prepare one dataset into data/audio/{dataset} with its recipe."""

import json

from sepflow.data.prepare import prepare_dataset
from sepflow.stage import stage

with stage(snakemake):
    prepare_dataset(json.loads(snakemake.params.dataset), snakemake.output[0], snakemake.params.raw_dir,
                    seed=snakemake.params.seed, workers=snakemake.threads)
