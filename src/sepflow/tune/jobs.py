"""What the search's jobs receive as JSON in their rule's params: a trial slot's job and the
outcome's. Specs only (no Optuna, no plotting), so planning a run imports none of them."""

from __future__ import annotations

from sepflow.specs import Spec
from sepflow.systems.trained import TrainedSystem
from sepflow.systems.tuned import trial_system
from sepflow.tune.space import PrunerSpec, SamplerSpec, Search


class TrialJob(Spec):
    """What one slot job needs (not the number of trials: raising it reruns no finished slot)."""

    experiment: str
    slot: int
    study: str
    storage: str
    base: TrainedSystem
    search: Search
    sources: tuple[str, ...]
    sample_rate: int
    manifests: dict[str, str]
    folder: str
    device: str = "auto"

    @property
    def where(self) -> str:
        return f"experiments.{self.experiment}.tune.params"

    def trained(self, values: dict) -> TrainedSystem:
        return trial_system(self.base, self.search, self.sources, self.sample_rate, values, self.where)


class OutcomeJob(Spec):
    experiment: str
    study: str
    storage: str
    metric: str
    direction: str
    trials: int
    steps: int
    sampler: SamplerSpec
    pruner: PrunerSpec
    records: list[str]
    given: dict
    """The experiment's model, args, data and train as the config gives them."""
    model: str
    files: dict[str, str]
    """trials, best, study, history, importance (sepflow.plan.layout.TUNE_FILES)."""
