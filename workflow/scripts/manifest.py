"""Snakemake adapter: build one split's manifest."""

import json
from pathlib import Path

from sepflow.data.manifest import write_manifest
from sepflow.data.recipes import build_manifest
from sepflow.stage import stage

with stage(snakemake):
    w = snakemake.wildcards
    audio = Path(snakemake.input.audio)  # {data_dir}/audio/{dataset}
    manifest = build_manifest(json.loads(snakemake.params.dataset), audio, audio.parents[1], w.dataset, w.split)
    write_manifest(manifest, snakemake.output[0])
    print(f"{snakemake.output[0]}: {len(manifest.items)} items")
