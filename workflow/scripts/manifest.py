"""Snakemake adapter: build one split's manifest, its files hashed on the job's cores."""

import logging
from pathlib import Path

from sepflow.data.manifest import write_manifest
from sepflow.data.recipes import build_manifest, recipe_from_json
from sepflow.stage import stage

with stage(snakemake):
    w = snakemake.wildcards
    audio = Path(snakemake.input.audio)  # {data_dir}/audio/{dataset}
    recipe = recipe_from_json(snakemake.params.dataset)
    manifest = build_manifest(recipe, audio, audio.parents[1], w.dataset, w.split, snakemake.threads)
    write_manifest(manifest, snakemake.output[0])
    logging.getLogger("sepflow.manifest").info("%s: %d items", snakemake.output[0], len(manifest.items))
