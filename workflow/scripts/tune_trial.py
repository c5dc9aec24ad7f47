"""Snakemake adapter: fill one trial slot of a study (ask, train, tell) and write its record."""

from sepflow.stage import stage
from sepflow.tune.jobs import TrialJob
from sepflow.tune.trial import run_trial

with stage(snakemake):
    run_trial(TrialJob.from_json(snakemake.params.job), snakemake.output.record, snakemake.threads)
