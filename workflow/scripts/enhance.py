"""Snakemake adapter: separate a test split with a trained model or a baseline."""

import json

from sepflow.data.manifest import read_manifest
from sepflow.infer.enhancer import load_separator
from sepflow.infer.offline import enhance_manifest
from sepflow.stage import stage

with stage(snakemake):
    exp = json.loads(snakemake.params.experiment)
    manifest = read_manifest(snakemake.input.manifest)
    process = load_separator(exp, manifest.sample_rate, manifest.sources, snakemake.input.get("model"),
                             snakemake.params.device)
    enhance_manifest(process, manifest, snakemake.output[0], manifest.sources)
