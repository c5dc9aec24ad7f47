"""The study behind a search, in Optuna: its storage, sampler, pruner and parameter distributions.

Storage is Optuna's journal file by default: an append-only log that many processes on one host
(or on hosts sharing a file system whose locks work) read and write under a lock. A study across
nodes without such a file system takes an RDB URL (PostgreSQL, MySQL); SQLite on a network file
system corrupts. The journal keeps no heartbeats, so a trial whose process died stays RUNNING until
the trial job of its slot runs again and marks it failed (`sepflow.tune.trial`).
"""

from __future__ import annotations

import logging
from pathlib import Path

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.storages import BaseStorage, JournalStorage
from optuna.storages.journal import JournalFileBackend

from sepflow.tune.space import Distribution, PrunerSpec, SamplerSpec

optuna.logging.set_verbosity(logging.WARNING)  # the trial jobs say what happened in their own words


def open_storage(storage: str) -> BaseStorage | str:
    """An RDB URL as Optuna takes it, or a journal file (its folder made)."""
    if "://" in storage:
        return storage
    Path(storage).parent.mkdir(parents=True, exist_ok=True)
    # Absolute: the lock is a symbolic link to the journal, and a relative target would dangle
    # (the link resolves it from its own folder); then the lock of a killed job is never taken
    # over after its grace period and every other job spins on it.
    return JournalStorage(JournalFileBackend(str(Path(storage).resolve())))


def distribution(spec: Distribution) -> BaseDistribution:
    if spec.type == "categorical":
        return CategoricalDistribution(spec.choices)
    if spec.type == "int":
        return IntDistribution(int(spec.low), int(spec.high), log=spec.log, step=int(spec.step or 1))
    return FloatDistribution(spec.low, spec.high, log=spec.log, step=spec.step)


def sampler(spec: SamplerSpec, seed: int, slot: int) -> optuna.samplers.BaseSampler:
    """Seeded per slot: samplers of jobs that start together would otherwise draw the same values."""
    if spec.name == "random":
        return optuna.samplers.RandomSampler(seed=seed + slot)
    return optuna.samplers.TPESampler(seed=seed + slot, n_startup_trials=spec.startup_trials, constant_liar=True)


def pruner(spec: PrunerSpec) -> optuna.pruners.BasePruner:
    if spec.name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=spec.startup_trials, n_warmup_steps=spec.warmup_steps)
    if spec.name == "halving":
        return optuna.pruners.SuccessiveHalvingPruner(
            min_resource=spec.min_steps or "auto", reduction_factor=spec.reduction_factor
        )
    return optuna.pruners.NopPruner()


def load(name: str, storage: str) -> optuna.Study:
    """A study that exists, for reading."""
    return optuna.load_study(study_name=name, storage=open_storage(storage))
