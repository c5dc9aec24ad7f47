"""The plan: the config read, validated and resolved once into typed specs.

`build_plan(config)` checks every key (an unknown one, at any level, is named with its full
path and the closest known key), builds each dataset's recipe and each experiment's system,
and answers what the workflow asks: which experiments a rule makes, what each job reads and
writes, and the JSON spec each job receives. Rules ask the plan; jobs rebuild their piece with
one `from_json`; nothing downstream parses config strings again.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from sepflow.data.recipes import parse_dataset
from sepflow.data.recipes.base import CorpusRecipe
from sepflow.errors import SepflowError
from sepflow.infer.options import EnhanceDefaults, EnhanceOptions
from sepflow.plan.layout import Layout
from sepflow.registry import did_you_mean
from sepflow.specs import Count, Flag, Spec, SplitRef, canonical_json
from sepflow.systems import system_from_config
from sepflow.systems.base import PlanContext, System
from sepflow.systems.splits import check_split

Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_]+$")]
EXPERIMENT_KEYS = ("test_sets", "enhance", "label")
"""Keys every experiment may have besides its system's."""


class Threads(Spec):
    """Threads per job; `snakemake --cores N` runs as many jobs as fit."""

    train: Count = Field(ge=1)
    enhance: Count = Field(ge=1)
    evaluate: Count = Field(ge=1)
    prepare: Count = Field(default=2, ge=1)
    manifest: Count = Field(default=2, ge=1)  # reading and hashing a split's files


class MetricsOptions(Spec):
    dnsmos: Flag = Field(default=True, description="DNSMOS SIG/BAK/OVRL; false leaves them NaN with the reason")
    composite: Literal["cmgan", "loizou"] = Field(
        default="cmgan",
        description="the CSIG/CBAK/COVL the tables show: CMGAN's compute_metrics.py (as recent papers) or composite.m",
    )


class ExportOptions(Spec):
    """`sepflow export` and the export rule (ONNX graphs and a model card of each trained model)."""

    licence: str | None = Field(default=None, description="the licence the model cards state for the exported models")


class RunSettings(Spec):
    """The config's top level; datasets and experiments are read by their recipes and systems."""

    seed: Count = Field(ge=0, description="the one seed for data synthesis, mixing and training")
    data_dir: str = Field(description="downloads, prepared audio and manifests")
    results_dir: str = Field(description="checkpoints, enhanced audio, metrics and the report")
    studies_dir: str = Field(default="studies", description="hyper-parameter searches' journals, outside results")
    device: Literal["auto", "cpu", "cuda"] = Field(description="auto uses CUDA when present")
    cluster: Flag = False
    check_every_file: Flag = Field(
        default=False,
        description="stat every file of every recorded folder at each invocation (else one stat per directory; "
        "`sepflow verify` checks every file on demand)",
    )
    threads: Threads = Field(description="threads per job: {train: N, enhance: N, evaluate: N}")
    only: list[str] = []
    metrics: MetricsOptions = MetricsOptions()
    enhance: EnhanceDefaults = EnhanceDefaults()
    export: ExportOptions = ExportOptions()
    datasets: dict[Name, Any] = Field(min_length=1, description="name each dataset and its recipe")
    experiments: dict[Name, Any] = Field(min_length=1, description="name each experiment and its system")


@dataclass(frozen=True)
class Experiment:
    name: str
    system: System
    test_sets: tuple[SplitRef, ...]
    enhance: EnhanceOptions
    label: str | None = None


@dataclass(frozen=True)
class Plan:
    settings: RunSettings
    datasets: dict[str, CorpusRecipe]
    experiments: dict[str, Experiment]
    selected: tuple[str, ...]
    """The experiments this run covers: all, or those `only` names plus the unprocessed input
    of their test sets, so every table keeps its input row."""
    config_hash: str
    layout: Layout = field(init=False)

    def __post_init__(self):
        object.__setattr__(
            self, "layout", Layout(self.settings.data_dir, self.settings.results_dir, self.settings.studies_dir)
        )

    def experiment(self, name: str) -> Experiment:
        return self.experiments[name]

    def made_by(self, rule: str) -> list[str]:
        """The selected experiments whose model file `rule` makes (train_model, fetch_released, tune)."""
        return sorted(name for name in self.selected if self.experiments[name].system.makes_model == rule)

    def modelled(self) -> list[str]:
        """The selected experiments with a model.pt."""
        return sorted(name for name in self.selected if self.experiments[name].system.makes_model)

    def targets(self) -> list[tuple[str, SplitRef]]:
        """Every (experiment, test set) pair the report covers, in config order."""
        return [(name, ts) for name in self.selected for ts in self.experiments[name].test_sets]

    def test_sets(self) -> list[SplitRef]:
        return list(dict.fromkeys(ts for _, ts in self.targets()))

    def input_experiments(self) -> dict[str, str]:
        """{test set: the first selected experiment that scores its unprocessed input}."""
        inputs: dict[str, str] = {}
        for name in self.selected:
            experiment = self.experiments[name]
            if experiment.system.is_unprocessed():
                for ts in experiment.test_sets:
                    inputs.setdefault(ts.name, name)
        return inputs

    def splits(self) -> list[SplitRef]:
        """Every split of every dataset (each has a manifest)."""
        return [
            SplitRef(dataset=name, split=split) for name, recipe in self.datasets.items() for split in recipe.splits()
        ]


def build_plan(config: Mapping[str, Any]) -> Plan:
    """Validate `config` and resolve it; the first mistake raises one SepflowError naming its key."""
    settings = RunSettings.parse(config, "")
    layout = Layout(settings.data_dir, settings.results_dir, settings.studies_dir)
    datasets = {
        name: parse_dataset(section, f"datasets.{name}", prepared=_prepared(layout, name))
        for name, section in settings.datasets.items()
    }
    context = PlanContext(datasets=datasets, seed=settings.seed)
    experiments = {
        name: _experiment(name, section, settings, context) for name, section in settings.experiments.items()
    }
    for name, experiment in experiments.items():
        experiment.system.check_plan(name, experiments, context)
    labels = {}
    for name, experiment in experiments.items():
        shown = experiment.label or name
        if shown in labels:
            raise SepflowError(
                f"experiments.{name}.label: {shown!r} is also {labels[shown]}'s; tables need one name each"
            )
        labels[shown] = name
    for name in settings.only:
        if name not in experiments:
            raise SepflowError(
                f"only: no experiment {name!r}; choose from {list(experiments)}{did_you_mean(name, experiments)}"
            )
    return Plan(
        settings=settings,
        datasets=datasets,
        experiments=experiments,
        selected=_selected(experiments, settings.only),
        config_hash=hashlib.sha256(canonical_json(dict(config)).encode()).hexdigest()[:16],
    )


def _prepared(layout: Layout, dataset: str) -> bool:
    """Whether the dataset was prepared (its record is there): then a listing of the user's
    folder is left to the stale check and the prepare job, so that reading the config costs
    the same for ten files as for a million."""
    return os.path.isfile(layout.record(layout.prepared(dataset)))


def _experiment(name: str, section: Any, settings: RunSettings, context: PlanContext) -> Experiment:
    where = f"experiments.{name}"
    if not isinstance(section, Mapping):
        raise SepflowError(f"{where}: expected a mapping of keys, got {section!r}")
    known = [*EXPERIMENT_KEYS, *(key for kind in _kinds() for key in kind.keys)]
    for key in section:
        if key not in known:
            raise SepflowError(
                f"{where}.{key}: unknown key{did_you_mean(key, known)}; known keys: {sorted(set(known))}"
            )
    if "test_sets" not in section:
        raise SepflowError(f"{where}.test_sets: missing; list the test sets to score it on, e.g. [demo/test]")
    system = system_from_config({k: v for k, v in section.items() if k not in EXPERIMENT_KEYS}, where, context)
    given = settings.enhance.model_dump(exclude_unset=True)
    enhance = EnhanceOptions.parse({**given, **(section.get("enhance") or {})}, f"{where}.enhance")
    test_sets = _test_sets(section["test_sets"], f"{where}.test_sets")
    for split in test_sets:
        check_split(context.datasets, split, f"{where}.test_sets")
        system.check_test_set(split, name, enhance, context)
    label = section.get("label")
    if label is not None and not (isinstance(label, str) and label.strip()):
        raise SepflowError(f"{where}.label: give the name tables show for it as text, got {label!r}")
    return Experiment(name=name, system=system, test_sets=test_sets, enhance=enhance, label=label)


class _TestSets(Spec):
    test_sets: tuple[SplitRef, ...] = Field(min_length=1)


def _test_sets(value: Any, where: str) -> tuple[SplitRef, ...]:
    return _TestSets.parse({"test_sets": value}, where.removesuffix(".test_sets")).test_sets


def _kinds() -> list[type[System]]:
    from sepflow.systems import SYSTEMS

    return [SYSTEMS.load(kind) for kind in SYSTEMS]


def _selected(experiments: dict[str, Experiment], only: list[str]) -> tuple[str, ...]:
    if not only:
        return tuple(experiments)
    used = {ts for name in only for ts in experiments[name].test_sets}
    return tuple(
        name
        for name, experiment in experiments.items()
        if name in only or (experiment.system.is_unprocessed() and used & set(experiment.test_sets))
    )
