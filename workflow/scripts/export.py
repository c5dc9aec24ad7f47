"""Snakemake adapter: export one trained experiment's model (ONNX graphs and a model card)."""

from sepflow.plan.export import run_export
from sepflow.plan.jobs import ExportJob
from sepflow.stage import stage

with stage(snakemake):
    run_export(ExportJob.from_json(snakemake.params.job), snakemake.output[0])
