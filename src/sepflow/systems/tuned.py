"""A model trained by a hyper-parameter search: a trained experiment with a `tune:` section.

Each trial is the experiment with the sampled values set at their dotted key paths, checked by the
code that checks a trained experiment's config (`TrainedSystem.with_values`); the plan tries every
parameter at both ends of its range (every choice of a categorical one) when the config is read,
so a typo in a key path or a value out of the recipe's bounds is one line naming the key. The
best trial's model is the experiment's model.pt (made by the `tune` rule), enhanced, evaluated
and reported like any trained model.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, Literal

from sepflow.errors import SepflowError
from sepflow.specs import canonical_json
from sepflow.systems.base import PlanContext
from sepflow.systems.checkpoint import ModelFileSystem
from sepflow.systems.trained import TrainedSystem
from sepflow.train.steps import step_class
from sepflow.tune.objective import objective_for
from sepflow.tune.paths import parse_path
from sepflow.tune.space import Search, TuneSpec


def trial_system(
    base: TrainedSystem,
    search: Search,
    sources: tuple[str, ...],
    sample_rate: int,
    values: Mapping[str, Any],
    where: str,
) -> TrainedSystem:
    """The trained system a trial with `values` trains, for the study's budget of steps."""
    return base.with_values({"train.steps": search.steps, **values}, where, sources, sample_rate)


def _check_path(path: str, where: str) -> None:
    """A searched key is a dotted path under args or train; the budget is tune.steps."""
    try:
        parts = parse_path(path)
    except ValueError as exc:
        raise SepflowError(f"{where}.{path}: {exc}") from None
    if parts[0] not in ("args", "train") or len(parts) < 2:
        raise SepflowError(f"{where}.{path}: search a key under args or train, e.g. train.lr or args.hidden")
    if path == "train.steps":
        raise SepflowError(f"{where}.{path}: each trial's budget is tune.steps, not a searched value")


class TunedSystem(ModelFileSystem):
    kind: Literal["tuned"] = "tuned"
    base: TrainedSystem
    tune: TuneSpec
    """Resolved: steps and direction are set."""
    sources: tuple[str, ...]
    sample_rate: int
    task: str
    given: dict[str, Any]
    """The experiment's model, args, data and train as the config gives them: the best values are
    written into these for a section ready to paste."""

    config_key = "tune"
    makes_model = "tune"
    keys = ("tune", *TrainedSystem.keys)

    @classmethod
    def from_config(cls, section: Mapping[str, Any], where: str, context: PlanContext) -> TunedSystem:
        given = {key: value for key, value in section.items() if key != "tune"}
        base = TrainedSystem.from_config(given, where, context)
        spec = TuneSpec.parse(section["tune"], f"{where}.tune")
        dataset = context.datasets[base.learns_from()]
        objective = objective_for(spec.metric, dataset.task, f"{where}.tune.metric")
        measured = ("valid_si_snr", step_class(base.recipe.step).criterion.column)
        if objective.row_key is not None and objective.row_key not in measured:
            raise SepflowError(
                f"{where}.tune.metric: {spec.metric} is not what the {base.recipe.step.get('name')} step validates "
                f"({measured[1]}); choose another metric"
            )
        if base.processes() != 1:
            raise SepflowError(
                f"{where}.train.processes: a tuned experiment trains each trial on one process (trials run "
                "side by side instead); remove processes or set it to 1"
            )
        spec = spec.model_copy(
            update={"steps": spec.steps or base.train["steps"], "direction": spec.direction or objective.direction}
        )
        system = cls(
            base=base,
            tune=spec,
            sources=tuple(dataset.sources()),
            sample_rate=dataset.sample_rate,
            task=dataset.task,
            given=dict(given),
        )
        for path, values in spec.params.items():
            _check_path(path, f"{where}.tune.params")
            for value in values.corners():
                try:
                    system.trial({path: value}, f"{where}.tune.params")
                except SepflowError as exc:
                    raise SepflowError(f"{exc} (with {path} = {value!r})") from None
        return system

    def trial(self, values: Mapping[str, Any], where: str) -> TrainedSystem:
        return trial_system(self.base, self.tune, self.sources, self.sample_rate, values, where)

    def study_name(self, experiment: str) -> str:
        """The experiment and a hash of what makes trials comparable (the base system, the space,
        the metric and its direction, the budget): a changed one is a new study in the same
        storage; more trials, another sampler or pruner continue the same study."""
        identity = {"base": self.base.model_dump(mode="json"), **self.tune.model_dump(mode="json")}
        for key in ("trials", "pruner", "sampler", "storage"):
            identity.pop(key)
        return f"{experiment}-{hashlib.sha256(canonical_json(identity).encode()).hexdigest()[:12]}"

    def learns_from(self) -> str:
        return self.base.learns_from()

    def training_splits(self):
        return self.base.training_splits()

    def check_test_set(self, split, experiment, enhance, context) -> None:
        self.base.check_test_set(split, experiment, enhance, context)

    def processes(self) -> int:
        return 1
