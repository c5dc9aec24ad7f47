"""Snakemake adapter: download released weights and write them as a sepflow checkpoint."""

from pathlib import Path

from sepflow.models.pretrained import Released, released_checkpoint
from sepflow.stage import stage
from sepflow.systems import system_from_json

with stage(snakemake):
    weights = system_from_json(snakemake.params.system).pretrained
    released = Released(**weights.model_dump())
    released_checkpoint(released, Path(snakemake.output.model), Path(snakemake.params.cache))
