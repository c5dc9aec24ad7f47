"""One trial slot of a study: the job that asks the study for parameters, trains them through the
training loop (each validation reports to the pruner), tells the study the outcome and records it.

A search of N trials is N slot jobs, each an ordinary Snakemake job tagged like training, so
`--cores`, `--resources gpu=N` and a Slurm profile run them side by side with no machinery of
their own; the record `trials/{slot}.json` is a slot's output, so Snakemake sees exactly which
trials are done. The study is the one shared state: every job asks it (Optuna hands each ask a
new trial number under the storage's lock, so no trial is evaluated twice), and the slot is a
user attribute of the trial it asked for, which makes a rerun continue the study:

- a slot whose trial finished (complete, pruned, or failed in training) only rewrites its record;
- a slot whose trial is still RUNNING was left by a job that died (SIGKILL, a time limit, a lost
  node; the journal has no heartbeats): that trial is marked failed and its parameters are asked
  again, and when this slot is the one that gets them it resumes the dead trial's training from
  its last.pt, replaying the reports it had made;
- any other slot asks for a new trial.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import time
from pathlib import Path

import optuna
import torch
from optuna.trial import FrozenTrial, TrialState

from sepflow.data.datasets import experiment_data
from sepflow.errors import SepflowError
from sepflow.files import write_atomic
from sepflow.specs import canonical_json
from sepflow.systems.trained import TrainedSystem
from sepflow.train.loop import train
from sepflow.train.resume import differences, load_state
from sepflow.train.steps import step_class
from sepflow.tune import study as studies
from sepflow.tune.jobs import TrialJob
from sepflow.tune.objective import OBJECTIVES, Objective, measure

logger = logging.getLogger(__name__)

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


class Reporter:
    """The training loop's on_validation hook: measures the objective, reports it at the step and
    stops the training (optuna.TrialPruned) when the pruner says so."""

    def __init__(self, trial: optuna.Trial, objective: Objective, data, items: int, steps: int):
        self.trial, self.objective, self.data, self.items, self.steps = (
            trial,
            objective,
            data,
            items,
            steps,
        )
        self.values: dict[int, float] = {}

    def replay(self, source: FrozenTrial, upto: int) -> None:
        """The reports a dead trial made up to the step its training resumes from."""
        for step, value in sorted(source.intermediate_values.items()):
            if step <= upto:
                self.trial.report(value, step)
                self.values[step] = value

    def __call__(self, step: int, row: dict, model: torch.nn.Module) -> None:
        measured = measure(self.objective, row, model, self.data.valid, self.items, self.data.sample_rate)
        self.values[step] = measured.value
        name = self.objective.name
        if measured.unmeasured:
            logger.info(f"[trial {self.trial.number}] {name} at step {step}: {measured.unmeasured}")
        if math.isfinite(measured.value):
            self.trial.report(measured.value, step)
            logger.info(f"[trial {self.trial.number}] {name} {measured.value:.4f} at step {step}")
        if step < self.steps and self.trial.should_prune():  # a trial at its budget is complete
            raise optuna.TrialPruned(f"{name} {measured.value:.4f} at step {step} is worse than the pruner allows")


def open_study(job: TrialJob) -> optuna.Study:
    seed = job.search.sampler.seed if job.search.sampler.seed is not None else job.base.train["seed"]
    return optuna.create_study(
        study_name=job.study,
        storage=studies.open_storage(job.storage),
        direction=job.search.direction,
        sampler=studies.sampler(job.search.sampler, seed, job.slot),
        pruner=studies.pruner(job.search.pruner),
        load_if_exists=True,
    )


def _best_checkpoint(job: TrialJob) -> Path:
    return Path(job.folder) / "train" / "best.pt"


def _settled(study: optuna.Study, job: TrialJob) -> FrozenTrial | None:
    """The slot's finished trial, or None after making the study ready to ask for one."""
    mine = [t for t in study.get_trials(deepcopy=False) if t.user_attrs.get("slot") == job.slot]
    last = mine[-1] if mine else None
    if last is None:
        return None
    if last.state == TrialState.RUNNING:
        logger.info(
            f"[slot {job.slot}] trial {last.number} was left running by a job that died; marked failed and "
            f"its parameters asked again: {last.params}"
        )
        study.tell(last.number, state=TrialState.FAIL)
        study.enqueue_trial(last.params, user_attrs={"retry_of": last.number})
        return None
    if last.state == TrialState.COMPLETE and not _best_checkpoint(job).is_file():
        logger.info(
            f"[slot {job.slot}] trial {last.number}'s model is gone from {job.folder}; its parameters are asked again"
        )
        study.enqueue_trial(last.params, user_attrs={"retry_of": last.number})
        return None
    if last.state in FINISHED or "error" in last.user_attrs:
        return last
    return None  # failed by a dead job, and its parameters already asked again


def _ask(study: optuna.Study, job: TrialJob) -> optuna.Trial:
    trial = study.ask({path: studies.distribution(spec) for path, spec in job.search.params.items()})
    for key, value in (("slot", job.slot), ("host", socket.gethostname()), ("pid", os.getpid())):
        trial.set_user_attr(key, value)
    return trial


def _resumed_step(out_dir: Path, system: TrainedSystem, data) -> int:
    """The step the training loop resumes from in `out_dir` (0: it starts afresh), by the loop's
    own test (sepflow.train.resume)."""
    saved = load_state(out_dir / "last.pt")
    if saved is None:
        return 0
    recipe = system.recipe
    parts = recipe.fingerprint_parts(system.model, system.args, data.fingerprint)
    return 0 if differences(saved, parts, step_class(recipe.step).criterion.column) else int(saved["step"])


def _earlier_run(study: optuna.Study, job: TrialJob, trial: optuna.Trial) -> FrozenTrial | None:
    """The latest other trial of this slot with these parameters: its training is in this folder."""
    same = [
        t
        for t in study.get_trials(deepcopy=False)
        if t.user_attrs.get("slot") == job.slot and t.number != trial.number and t.params == trial.params
    ]
    return same[-1] if same else None


def _record(job: TrialJob, trial: FrozenTrial) -> dict:
    seconds = (
        (trial.datetime_complete - trial.datetime_start).total_seconds()
        if trial.datetime_complete and trial.datetime_start
        else math.nan
    )
    return {
        "experiment": job.experiment,
        "slot": job.slot,
        "study": job.study,
        "storage": job.storage,
        "number": trial.number,
        "state": trial.state.name,
        "value": trial.value,
        "params": trial.params,
        "steps": trial.last_step or 0,
        "best_step": trial.user_attrs.get("best_step"),
        "seconds": seconds,
        "retry_of": trial.user_attrs.get("retry_of"),
        "error": trial.user_attrs.get("error"),
        "folder": job.folder,
    }


def run_trial(job: TrialJob, record: str, threads: int = 1) -> dict:
    """Fill the job's slot with a finished trial of its study and write the slot's record;
    the training runs on `threads` CPU threads (its loader's workers among them)."""
    study = open_study(job)
    trial = _settled(study, job)
    if trial is not None:
        logger.info(f"[slot {job.slot}] trial {trial.number} finished before ({trial.state.name}); recorded again")
    else:
        trial = _train_trial(study, job, threads)
    outcome = _record(job, trial)
    write_atomic(record, canonical_json(outcome) + "\n")
    return outcome


def _train_trial(study: optuna.Study, job: TrialJob, threads: int) -> FrozenTrial:
    trial = _ask(study, job)
    retry = trial.user_attrs.get("retry_of")
    logger.info(
        f"[slot {job.slot}] trial {trial.number} of study {job.study}: {trial.params}"
        + (f" (asked again: trial {retry} died)" if retry is not None else "")
    )
    system = job.trained(trial.params)
    recipe = system.recipe
    data = experiment_data(system.data, job.manifests, recipe.segment, recipe.seed)
    out_dir = Path(job.folder) / "train"
    resumed = _resumed_step(out_dir, system, data)
    objective = OBJECTIVES[job.search.metric]
    items = min(recipe.valid_items or len(data.valid), len(data.valid))
    reporter = Reporter(trial, objective, data, items, recipe.steps)
    earlier = _earlier_run(study, job, trial) if resumed else None
    if earlier is not None:
        reporter.replay(earlier, resumed)
        logger.info(f"[slot {job.slot}] resuming trial {earlier.number}'s training at step {resumed}")
    started = time.monotonic()
    try:
        best = train(
            system.model,
            system.args,
            recipe,
            data,
            out_dir,
            device=job.device,
            name=f"{job.experiment} trial {trial.number}",
            on_validation=reporter,
            threads=threads,
        )
    except optuna.TrialPruned as pruned:
        study.tell(trial, state=TrialState.PRUNED)
        logger.info(f"[slot {job.slot}] trial {trial.number} pruned: {pruned}")
    except SepflowError as failure:  # the sampled values diverged: an outcome, asked again by no one
        trial.set_user_attr("error", str(failure))
        study.tell(trial, state=TrialState.FAIL)
        logger.info(f"[slot {job.slot}] trial {trial.number} failed: {failure}")
    else:
        value = reporter.values.get(best["step"], math.nan)
        if math.isfinite(value):
            trial.set_user_attr("best_step", best["step"])
            study.tell(trial, value)
            logger.info(
                f"[slot {job.slot}] trial {trial.number}: {objective.name} {value:.4f} at step {best['step']} "
                f"(its best checkpoint) in {time.monotonic() - started:.1f} s"
            )
        else:
            trial.set_user_attr("error", f"{objective.name} could not be measured at step {best['step']}")
            study.tell(trial, state=TrialState.FAIL)
            logger.info(f"[slot {job.slot}] trial {trial.number} failed: {trial.user_attrs['error']}")
    return next(t for t in study.get_trials(deepcopy=False) if t.number == trial.number)
