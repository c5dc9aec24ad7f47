"""The one seam for everything that produces estimates.

An experiment's system is one of a few kinds (the registry in `systems/__init__.py`): a model
we train, released weights converted to our checkpoint, a baseline that needs no assets,
another toolkit's enhancer (an ONNX graph or a C library in a wheel), an exported graph of
ours. Each kind is one module with one class that says, for the workflow and the jobs:

- how its config section is read and checked (`from_config`), with the plan's datasets;
- which files it needs (`assets`, which become the enhance job's inputs) and which rule
  makes its model file, if any (`makes_model`: "train_model", "fetch_released" or None);
- how it loads into a separator, a function from a mixture (channels, samples) to its
  sources' estimates (sources, channels, samples) (`load`);
- its facts for the report: parameters, real-time factor, provenance (`facts`).

The workflow asks these questions and branches on no kind by name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from sepflow.errors import SepflowError
from sepflow.registry import Registry
from sepflow.specs import Spec, SplitRef

if TYPE_CHECKING:
    from sepflow.data.recipes.base import CorpusRecipe
    from sepflow.infer.options import EnhanceOptions
    from sepflow.plan.layout import Layout

Separator = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class PlanContext:
    """What a system's config check may look at: the datasets, and the global seed."""

    datasets: Mapping[str, CorpusRecipe]
    seed: int
    choices: dict[str, Any] = field(default_factory=dict)


class System(Spec):
    """A kind of system: subclasses set `config_key` (the experiment key that selects the kind)
    and a `kind` literal (the JSON tag), and implement `from_config` and `load`."""

    config_key: ClassVar[str]
    makes_model: ClassVar[str | None] = None
    """The rule that writes results/{experiment}/model.pt for this kind, if any."""
    keys: ClassVar[tuple[str, ...]] = ()
    """The experiment keys this kind reads (besides test_sets, enhance, label)."""

    @classmethod
    def from_config(cls, section: Mapping[str, Any], where: str, context: PlanContext) -> System:
        raise NotImplementedError

    def learns_from(self) -> str | None:
        """The dataset a trained model learns from (its test sets must match it); None for others."""
        return None

    def check_test_set(self, split: SplitRef, experiment: str, enhance: EnhanceOptions, context: PlanContext) -> None:
        """Whether it can be scored on `split` (SepflowError naming the key otherwise)."""

    def check_plan(self, experiment: str, experiments: Mapping[str, Any], context: PlanContext) -> None:
        """What needs the other experiments (a system made from another's model); called once
        every experiment is read."""

    def is_unprocessed(self) -> bool:
        """Whether it passes the input through: the row every model's gain is measured against."""
        return False

    def assets(self, layout: Layout, experiment: str) -> dict[str, str]:
        """Files the enhance job needs, by name (its Snakemake inputs)."""
        return {"model": layout.model(experiment)} if self.makes_model else {}

    def uses_gpu(self) -> bool:
        """Whether its jobs run a network (tagged `gpu` when the run uses CUDA)."""
        return self.makes_model is not None

    def for_inference(self) -> System:
        """What the enhance job needs to know: itself, or less (a trained model is its checkpoint)."""
        return self

    def load(
        self,
        sample_rate: int,
        sources: tuple[str, ...],
        assets: Mapping[str, str],
        enhance: EnhanceOptions,
        device: str = "auto",
    ) -> Separator:
        raise NotImplementedError

    def facts(self, assets: Mapping[str, str], sample_rate: int) -> dict[str, Any]:
        """Parameters, real-time factor and provenance for the report, running at `sample_rate`
        (a test set's); {} when it has none."""
        return {}


def named(section: Mapping[str, Any], key: str, registry: Registry, where: str) -> tuple[str, dict[str, Any]]:
    """(name, args) of a kind that names a registry entry under `key`, with its `args`."""
    name, args = section[key], section.get("args") or {}
    if name not in registry:
        raise registry.unknown(name, f"{where}.{key}")
    if not isinstance(args, Mapping):
        raise SepflowError(f"{where}.args: give its arguments as a mapping, got {args!r}")
    return name, dict(args)
