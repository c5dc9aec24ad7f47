"""Snakemake adapter: aggregate every metrics.csv into the report tables and plot."""

from pathlib import Path

from sepflow.report.build import build_report
from sepflow.stage import stage

with stage(snakemake):
    targets = [t.split("|") for t in snakemake.params.targets]
    csvs = {(exp, testset): path for (exp, testset), path in zip(targets, snakemake.input.metrics)}
    build_report(csvs, Path(snakemake.output[0]).parent)
