"""The specs jobs receive as JSON in their rule's params, built from the plan."""

from __future__ import annotations

from sepflow.plan import Plan
from sepflow.specs import Spec, SplitRef
from sepflow.train.job import TrainJob


def train_job(plan: Plan, experiment: str) -> TrainJob:
    """What a training job needs: the trained system and where its manifests and state live."""
    system = plan.experiment(experiment).system
    manifests = {split.name: plan.layout.manifest(split) for split in system.training_splits()}
    return system.train_job(experiment, manifests, plan.layout.train_dir(experiment), plan.settings.device)


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
        assets={name: e.system.assets(layout.model(name)) for name, e in experiments.items()},
        rates={name: plan.datasets[e.test_sets[0].dataset].sample_rate for name, e in experiments.items()},
        inputs=plan.input_experiments(),
        labels={name: e.label for name, e in experiments.items() if e.label},
        composite=plan.settings.metrics.composite,
        config_hash=plan.config_hash,
    )
