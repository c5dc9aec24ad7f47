"""Snakemake adapter: build the report (tables, figures, index.html) from its job spec."""

from pathlib import Path

from sepflow.plan.jobs import ReportJob
from sepflow.plan.report import run_report
from sepflow.stage import stage

with stage(snakemake):
    run_report(ReportJob.from_json(snakemake.params.job), Path(snakemake.output.page).parent)
