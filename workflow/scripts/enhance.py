"""Snakemake adapter: separate a test split with a trained model or a baseline."""

import json

from sepflow.data.manifest import read_manifest
from sepflow.files import write_folder_record
from sepflow.infer.enhancer import load_separator
from sepflow.infer.offline import enhance_manifest
from sepflow.stage import stage

with stage(snakemake):
    exp = json.loads(snakemake.params.experiment)
    manifest = read_manifest(snakemake.input.manifest)
    process = load_separator(
        exp, manifest.sample_rate, manifest.sources, snakemake.input.get("model"), snakemake.params.device
    )
    enhance_manifest(process, manifest, snakemake.output.enhanced, manifest.sources)
    write_folder_record(snakemake.output.enhanced, snakemake.output.record)
