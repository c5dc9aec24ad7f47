"""Snakemake adapter: per-item metrics of one enhanced test split."""

from sepflow.data.manifest import read_manifest
from sepflow.metrics.evaluate import evaluate_manifest
from sepflow.records import check_unchanged
from sepflow.stage import stage

with stage(snakemake):
    check_unchanged(snakemake.input.enhanced, snakemake.input.record)
    manifest = read_manifest(snakemake.input.manifest)
    evaluate_manifest(
        manifest,
        snakemake.input.enhanced,
        snakemake.output[0],
        workers=snakemake.threads,
        dnsmos=snakemake.params.dnsmos,  # a speech option; the music set takes none
    )
