"""Snakemake adapter: train one experiment (on the processes its recipe asks for) and write
its model checkpoint."""

from sepflow.models.checkpoint import atomic_save
from sepflow.stage import stage
from sepflow.train.job import TrainJob
from sepflow.train.launch import train_job

with stage(snakemake):
    job = TrainJob.from_json(snakemake.params.job)
    best = train_job(job, threads=snakemake.threads)
    atomic_save(best, snakemake.output.model)
