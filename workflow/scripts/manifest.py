"""Snakemake adapter: build one split's manifest."""

from pathlib import Path

from sepflow.data.splits import build_manifest
from sepflow.data.manifest import write_manifest
from sepflow.stage import stage

with stage(snakemake):
    w = snakemake.wildcards
    manifest = build_manifest(Path(snakemake.input[0]), Path(snakemake.params.data_dir), w.dataset, w.split,
                              snakemake.params.sample_rate)
    write_manifest(manifest, snakemake.output[0])
    print(f"{snakemake.output[0]}: {len(manifest.items)} items")
