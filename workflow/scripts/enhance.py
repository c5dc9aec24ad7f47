"""Snakemake adapter: separate a test split with the experiment's system."""

from sepflow.data.manifest import read_manifest
from sepflow.infer.offline import enhance_manifest
from sepflow.infer.options import EnhanceOptions
from sepflow.records import write_folder_record
from sepflow.stage import stage
from sepflow.systems import system_from_json

with stage(snakemake):
    manifest = read_manifest(snakemake.input.manifest)
    assets = {name: path for name, path in snakemake.input.items() if name != "manifest"}
    system = system_from_json(snakemake.params.system)
    enhance = EnhanceOptions.from_json(snakemake.params.enhance)
    process = system.load(manifest.sample_rate, manifest.sources, assets, enhance, snakemake.params.device)
    enhance_manifest(process, manifest, snakemake.output.enhanced, manifest.sources)
    write_folder_record(snakemake.output.enhanced, snakemake.output.record)
