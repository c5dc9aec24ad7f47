"""The specs jobs receive as JSON in their rule's params, built from the plan."""

from __future__ import annotations

from typing import Any

from sepflow.plan import Plan
from sepflow.specs import Spec, SplitRef
from sepflow.train.job import TrainJob
from sepflow.tune.jobs import OutcomeJob, TrialJob


def train_job(plan: Plan, experiment: str) -> TrainJob:
    """What a training job needs: the trained system and where its manifests and state live."""
    system = plan.experiment(experiment).system
    manifests = {split.name: plan.layout.manifest(split) for split in system.training_splits()}
    return system.train_job(experiment, manifests, plan.layout.train_dir(experiment), plan.settings.device)


def _storage(plan: Plan, experiment: str) -> str:
    return plan.experiment(experiment).system.tune.storage or plan.layout.study(experiment)


def trial_job(plan: Plan, experiment: str, slot: int) -> TrialJob:
    """What one trial slot of a tuned experiment needs (the number of trials is not part of it)."""
    system = plan.experiment(experiment).system
    return TrialJob(
        experiment=experiment,
        slot=slot,
        study=system.study_name(experiment),
        storage=_storage(plan, experiment),
        base=system.base,
        search=system.tune.search(),
        sources=system.sources,
        sample_rate=system.sample_rate,
        manifests={split.name: plan.layout.manifest(split) for split in system.training_splits()},
        folder=plan.layout.trial(experiment, slot),
        device=plan.settings.device,
    )


def outcome_job(plan: Plan, experiment: str) -> OutcomeJob:
    """What the tune rule needs to sum a finished search up and keep its best model."""
    system, layout = plan.experiment(experiment).system, plan.layout
    return OutcomeJob(
        experiment=experiment,
        study=system.study_name(experiment),
        storage=_storage(plan, experiment),
        metric=system.tune.metric,
        direction=system.tune.direction,
        trials=system.tune.trials,
        steps=system.tune.steps,
        sampler=system.tune.sampler,
        pruner=system.tune.pruner,
        records=[layout.trial_record(experiment, slot) for slot in range(system.tune.trials)],
        given=system.given,
        model=layout.model(experiment),
        files=layout.tune_files(experiment),
    )


class ReportRow(Spec):
    experiment: str
    test_set: SplitRef
    metrics: str


class ReportJob(Spec):
    """Everything the report reads, by name: no position in a list of inputs carries meaning."""

    rows: list[ReportRow]
    manifests: dict[str, str]
    """Each test set's manifest, by `dataset/split`."""
    systems: dict[str, str]
    """Each experiment's system as inference sees it (JSON), for its facts."""
    assets: dict[str, dict[str, str]]
    rates: dict[str, int]
    """The rate each experiment runs at for its facts (its first test set's)."""
    inputs: dict[str, str]
    """{test set: the experiment that scores its unprocessed input}."""
    labels: dict[str, str]
    composite: str
    """The definition of CSIG/CBAK/COVL the tables show (both are in every metrics.csv)."""
    tuning: dict[str, dict[str, str]] = {}
    """Each tuned experiment's search outcome files (sepflow.plan.layout.TUNE_FILES)."""
    config_hash: str


def report_job(plan: Plan) -> ReportJob:
    layout = plan.layout
    experiments = {name: plan.experiment(name) for name in plan.selected}
    return ReportJob(
        rows=[
            ReportRow(experiment=name, test_set=split, metrics=layout.metrics(name, split))
            for name, split in plan.targets()
        ],
        manifests={split.name: layout.manifest(split) for split in plan.test_sets()},
        systems={name: e.system.for_inference().to_json() for name, e in experiments.items()},
        assets={name: e.system.assets(layout, name) for name, e in experiments.items()},
        rates={name: plan.datasets[e.test_sets[0].dataset].sample_rate for name, e in experiments.items()},
        inputs=plan.input_experiments(),
        labels={name: e.label for name, e in experiments.items() if e.label},
        composite=plan.settings.metrics.composite,
        tuning={name: layout.tune_files(name) for name in plan.made_by("tune")},
        config_hash=plan.config_hash,
    )


class ExportJob(Spec):
    """What the export rule needs for a trained experiment's graphs and model card."""

    experiment: str
    checkpoint: str
    history: str
    data: dict[str, Any]
    """The experiment's `data:` section, as its training read it."""
    recipe: dict[str, Any]
    manifests: dict[str, str]
    """The manifest of each split training read, by `dataset/split` (their content hashes)."""
    metrics: dict[str, str]
    """The experiment's per-item metrics of each test set, by `dataset/split` (the card's scores)."""
    licence: str | None


def export_job(plan: Plan, experiment: str) -> ExportJob:
    layout, spec = plan.layout, plan.experiment(experiment)
    system = spec.system
    return ExportJob(
        experiment=experiment,
        checkpoint=layout.model(experiment),
        history=f"{layout.train_dir(experiment)}/history.csv",
        data=system.data.model_dump(mode="json", exclude_none=True),
        recipe=system.train,
        manifests={split.name: layout.manifest(split) for split in system.training_splits()},
        metrics={split.name: layout.metrics(experiment, split) for split in spec.test_sets},
        licence=plan.settings.export.licence,
    )
