"""Snakemake adapter: a finished search's trials table, best values, plots, and the best trial's
model as the experiment's model.pt."""

from sepflow.stage import stage
from sepflow.tune.jobs import OutcomeJob
from sepflow.tune.outcome import finish_search

with stage(snakemake):
    finish_search(OutcomeJob.from_json(snakemake.params.job))
