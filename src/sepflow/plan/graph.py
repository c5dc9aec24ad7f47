"""The workflow's jobs: what each reads and writes, for the rules and for the stale check.

The rules' input functions call `inputs(plan, rule, **wildcards)`, and `jobs(plan)` lists every
job with the same functions, so the graph the stale check walks is the one Snakemake builds
(a test compares them for every preset).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from sepflow.plan import Plan
from sepflow.specs import SplitRef


@dataclass(frozen=True)
class Job:
    rule: str
    outputs: tuple[str, ...]
    inputs: tuple[str, ...]


def _flat(named: dict[str, str | list[str]]) -> list[str]:
    return [path for value in named.values() for path in ([value] if isinstance(value, str) else value)]


def inputs(plan: Plan, rule: str, **w: str) -> dict[str, str | list[str]]:
    """A job's named inputs, by rule and wildcards (the rules' input functions)."""
    layout = plan.layout
    if rule == "prepare":  # a user's folder it reads is watched through its record (plan/stale.py)
        return {}
    if rule == "manifest":
        prepared = layout.prepared(w["dataset"])
        return {"audio": prepared, "record": layout.record(prepared)}
    if rule == "train_model":
        system = plan.experiment(w["experiment"]).system
        return {"manifests": [layout.manifest(split) for split in system.training_splits()]}
    if rule == "tune_trial":
        system = plan.experiment(w["experiment"]).system
        return {"manifests": [layout.manifest(split) for split in system.training_splits()]}
    if rule == "tune":
        trials = plan.experiment(w["experiment"]).system.tune.trials
        return {"trials": [layout.trial_record(w["experiment"], slot) for slot in range(trials)]}
    if rule == "fetch_released":
        return {}
    if rule == "export_model":
        experiment = plan.experiment(w["experiment"])
        return {
            "model": layout.model(w["experiment"]),
            "manifests": [layout.manifest(split) for split in experiment.system.training_splits()],
            "metrics": [layout.metrics(w["experiment"], split) for split in experiment.test_sets],
        }
    split = SplitRef(dataset=w.get("dataset", "_"), split=w.get("split", "_"))
    if rule == "enhance":
        system = plan.experiment(w["experiment"]).system
        return {"manifest": layout.manifest(split), **system.assets(layout, w["experiment"])}
    if rule == "evaluate":
        enhanced = layout.enhanced(w["experiment"], split)
        return {"manifest": layout.manifest(split), "enhanced": enhanced, "record": layout.record(enhanced)}
    if rule == "report":
        return {
            "metrics": [layout.metrics(exp, ts) for exp, ts in plan.targets()],
            "models": [layout.model(exp) for exp in plan.modelled()],
            "tuning": [path for exp in plan.made_by("tune") for path in layout.tune_files(exp).values()],
            "manifests": [layout.manifest(ts) for ts in plan.test_sets()],
        }
    raise KeyError(f"no rule {rule!r}")


def jobs(plan: Plan) -> Iterator[Job]:
    """Every job of a full run of the plan, with its output and input files."""
    layout = plan.layout

    def job(rule: str, outputs: list[str], **w: str) -> Job:
        return Job(rule, tuple(outputs), tuple(_flat(inputs(plan, rule, **w))))

    for dataset in plan.datasets:
        prepared = layout.prepared(dataset)
        yield job("prepare", [prepared, layout.record(prepared)], dataset=dataset)
    for split in plan.splits():
        yield job("manifest", [layout.manifest(split)], dataset=split.dataset, split=split.split)
    for rule in ("train_model", "fetch_released"):
        for experiment in plan.made_by(rule):
            yield job(rule, [layout.model(experiment)], experiment=experiment)
    for experiment in plan.made_by("tune"):
        for slot in range(plan.experiment(experiment).system.tune.trials):
            yield job("tune_trial", [layout.trial_record(experiment, slot)], experiment=experiment, trial=str(slot))
        yield job("tune", [layout.model(experiment), *layout.tune_files(experiment).values()], experiment=experiment)
    for experiment in plan.made_by("train_model"):
        yield job("export_model", [layout.export(experiment)], experiment=experiment)
    for experiment, split in plan.targets():
        enhanced = layout.enhanced(experiment, split)
        w = {"experiment": experiment, "dataset": split.dataset, "split": split.split}
        yield job("enhance", [enhanced, layout.record(enhanced)], **w)
        yield job("evaluate", [layout.metrics(experiment, split)], **w)
    yield job("report", [*layout.report_files(), layout.report("tables"), layout.report("plots")])
