"""Snakemake adapter: download released weights and write them as a sepflow checkpoint."""

import json
from pathlib import Path

from sepflow.models.pretrained import Released, released_checkpoint
from sepflow.stage import stage

with stage(snakemake):
    spec = json.loads(snakemake.params.released)
    released_checkpoint(Released(**spec), Path(snakemake.output.model), Path(snakemake.params.cache))
