"""A finished search's outcome under results/{experiment}/tune/, and the best trial's model as the
experiment's model.pt.

- trials.csv: every trial of the study (number, state, value, each parameter, steps, wall time,
  slot, a note: pruned where, failed why, asked again as which trial), the best one marked;
- best.yaml: the experiment's section with the best values written in, ready to paste;
- optimization_history.png and param_importances.png (Optuna's matplotlib plots; fANOVA
  importances, seeded);
- study.json: the study, its storage, sampler and pruner, the best trial and its folder.

The best is chosen among the trials the slots hold (their records are this job's inputs), which
is the study's best unless a slot had to run again because its model was gone.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import warnings
from collections import Counter
from importlib.metadata import version
from pathlib import Path

import optuna
import pandas as pd
import yaml
from matplotlib.figure import Figure
from optuna.trial import FrozenTrial, TrialState

from sepflow.errors import SepflowError
from sepflow.files import atomic_path, write_atomic
from sepflow.specs import canonical_json
from sepflow.systems.trained import TrainedSystem
from sepflow.tune import study as studies
from sepflow.tune.jobs import OutcomeJob
from sepflow.tune.paths import set_at

logger = logging.getLogger(__name__)


def _fail_orphans(study: optuna.Study) -> None:
    """Every slot is done, so a trial still RUNNING has no job (one died between asking and
    naming its slot): it is failed, not left running forever."""
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        logger.info(f"trial {trial.number} was left running with no job; marked failed")
        study.tell(trial.number, state=TrialState.FAIL)


def _note(trial: FrozenTrial, retried: dict[int, int], held: set[int]) -> str:
    if trial.user_attrs.get("error"):
        return f"failed: {trial.user_attrs['error']}"
    if trial.state == TrialState.FAIL:
        again = retried.get(trial.number)
        return "its job died" + (f"; asked again as trial {again}" if again is not None else "")
    notes = []
    if trial.user_attrs.get("retry_of") is not None:
        notes.append(f"asked again for trial {trial.user_attrs['retry_of']}")
    if trial.state == TrialState.PRUNED:
        notes.append(f"pruned at step {trial.last_step}")
    if trial.state == TrialState.COMPLETE and trial.number not in held:
        notes.append("superseded: its slot ran again")
    return "; ".join(notes)


def trials_table(trials: list[FrozenTrial], params: list[str], held: set[int], best: int) -> pd.DataFrame:
    retried = {t.user_attrs["retry_of"]: t.number for t in trials if t.user_attrs.get("retry_of") is not None}
    rows = []
    for t in trials:
        seconds = (t.datetime_complete - t.datetime_start).total_seconds() if t.datetime_complete else math.nan
        rows.append(
            {
                "number": t.number,
                "state": t.state.name,
                "value": t.value if t.value is not None else math.nan,
                **{path: t.params.get(path) for path in params},
                "steps": t.last_step or 0,
                "seconds": round(seconds, 1),
                "slot": t.user_attrs.get("slot"),
                "best": t.number == best,
                "note": _note(t, retried, held),
            }
        )
    return pd.DataFrame(rows)


def best_section(job: OutcomeJob, best: FrozenTrial, counts: Counter) -> str:
    """The experiment's section with the best values set, under comments that say where they came from."""
    given = json.loads(json.dumps(job.given))
    section = {key: given[key] for key in TrainedSystem.keys if key in given}  # in the order configs use
    for path, value in {**best.params, "train.steps": job.steps}.items():
        set_at(section, path, value, f"experiments.{job.experiment}")
    states = ", ".join(f"{n} {state.lower()}" for state, n in sorted(counts.items()))
    header = [
        f"The best trial of study {job.study} ({sum(counts.values())} trials: {states}):",
        f"trial {best.number}, {job.metric} {best.value:.4f} ({job.direction}) on the validation split at step "
        f"{best.user_attrs.get('best_step')} of {job.steps}, its kept checkpoint.",
        "Its values, written into the experiment below (train.steps is the trial budget):",
        *[f"  {path}: {value!r}" for path, value in best.params.items()],
        "Paste it as an experiment (beside its test_sets) to train these values without a search.",
    ]
    return "".join(f"# {line}\n" for line in header) + yaml.safe_dump(section, sort_keys=False)


def _save(figure: Figure, path: str) -> None:
    figure.set_size_inches(7, 4)
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=100)


def _message_figure(title: str, message: str) -> Figure:
    figure = Figure()
    ax = figure.add_subplot()
    ax.set_axis_off()
    ax.set_title(title)
    ax.text(0.5, 0.5, message, ha="center", va="center", wrap=True)
    return figure


def plot_study(study: optuna.Study, metric: str, history: str, importance: str) -> None:
    """Optuna's optimisation history and fANOVA parameter importances; an importance that cannot
    be computed (fewer than two complete trials, no variation) is a figure saying why."""
    import matplotlib.pyplot as plt  # Optuna's plots draw through pyplot

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        figure = optuna.visualization.matplotlib.plot_optimization_history(study, target_name=metric).figure
        _save(figure, history)
        plt.close(figure)
        complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if len(complete) < 2:
            _save(
                _message_figure("Hyperparameter importances", f"needs 2 complete trials, has {len(complete)}"),
                importance,
            )
            return
        try:
            evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)
            figure = optuna.visualization.matplotlib.plot_param_importances(
                study, evaluator=evaluator, target_name=metric
            ).figure
        except (RuntimeError, ValueError) as exc:
            figure = _message_figure("Hyperparameter importances", f"not computed: {exc}")
        _save(figure, importance)
        plt.close(figure)


def finish_search(job: OutcomeJob) -> FrozenTrial:
    """Write the outcome files and the best trial's model; return the best trial."""
    records = {record["number"]: record for record in (json.loads(Path(p).read_text()) for p in job.records)}
    try:
        study = studies.load(job.study, job.storage)
    except KeyError:
        raise SepflowError(
            f"{job.storage}: holds no study {job.study}, which the trial records name; "
            f"remove results/{job.experiment}/tune/trials/ to run the search again"
        ) from None
    _fail_orphans(study)
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.number in records and t.state == TrialState.COMPLETE]
    counts = Counter(t.state.name for t in trials)
    if not complete:
        raise SepflowError(
            f"results/{job.experiment}/tune: no trial of study {job.study} completed ({dict(counts)}); "
            f"see trials/*.json and the trials' logs, widen the search or lengthen tune.steps"
        )
    sign = -1 if job.direction == "maximize" else 1
    best = min(complete, key=lambda t: (sign * t.value, t.number))
    table = trials_table(trials, list(next(iter(records.values()))["params"]), set(records), best.number)
    write_atomic(job.files["trials"], table.to_csv(index=False))
    write_atomic(job.files["best"], best_section(job, best, counts))
    plot_study(study, job.metric, job.files["history"], job.files["importance"])
    folder = records[best.number]["folder"]
    with atomic_path(job.model) as tmp:
        shutil.copyfile(Path(folder) / "train" / "best.pt", tmp)
    summary = {
        "study": job.study,
        "storage": job.storage,
        "metric": job.metric,
        "direction": job.direction,
        "trials": job.trials,
        "steps": job.steps,
        "states": dict(counts),
        "sampler": job.sampler.model_dump(),
        "pruner": job.pruner.model_dump(),
        "optuna": version("optuna"),
        "best": {
            "number": best.number,
            "value": best.value,
            "params": best.params,
            "step": best.user_attrs.get("best_step"),
            "folder": folder,
        },
    }
    write_atomic(job.files["study"], canonical_json(summary) + "\n")
    logger.info(f"[{job.experiment}] best of {len(trials)} trials: trial {best.number}, {job.metric} {best.value:.4f}")
    logger.info(table.to_string(index=False))
    return best
