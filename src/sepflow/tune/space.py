"""The `tune:` section of an experiment: what to search, what to optimise, how long each trial
trains, how trials are pruned and sampled, and where the study is stored.

    tune:
      params:                                   # dotted key paths into the experiment
        train.loss.alpha: {type: float, low: 0.1, high: 1.0}
        train.lr: {type: float, low: 1.0e-4, high: 1.0e-2, log: true}
        args.hidden: {type: int, low: 8, high: 32, step: 8}
        train.optimizer: {type: categorical, choices: [adam, adamw]}
      metric: pesq_wb                           # a validation metric of the task
      direction: maximize                       # default: the metric's own
      trials: 8
      steps: 200                                # each trial's budget (default: train.steps)
      pruner: {name: median, startup_trials: 2, warmup_steps: 50}
      sampler: {name: tpe, seed: 0, startup_trials: 4}
      storage: null                             # a journal file (default) or an RDB URL
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, model_validator

from sepflow.specs import Count, Flag, Number, Spec

Scalar = Annotated[str, StringConstraints(min_length=1)] | Count | Number | Flag
Direction = Literal["maximize", "minimize"]


class Distribution(Spec):
    """One parameter's range: float (log: true for a log-float), int, or categorical choices."""

    type: Literal["float", "int", "categorical"] = Field(description="float, int or categorical")
    low: Number | None = None
    high: Number | None = None
    log: Flag = False
    step: Number | None = None
    choices: list[Scalar] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Distribution:
        if self.type == "categorical":
            if not self.choices:
                raise ValueError("a categorical parameter lists its choices: {type: categorical, choices: [a, b]}")
            if self.low is not None or self.high is not None or self.step is not None or self.log:
                raise ValueError("a categorical parameter takes only choices, no low, high, step or log")
            return self
        if self.choices is not None:
            raise ValueError(f"a {self.type} parameter takes low and high, not choices")
        if self.low is None or self.high is None:
            raise ValueError(f"a {self.type} parameter needs low and high: {{type: {self.type}, low: ..., high: ...}}")
        if self.low > self.high:
            raise ValueError(f"low {self.low:g} is above high {self.high:g}")
        if self.type == "int" and not all(float(v).is_integer() for v in (self.low, self.high, self.step or 1)):
            raise ValueError("an int parameter has whole-number low, high and step")
        if self.log and self.low <= 0:
            raise ValueError(f"a log range starts above 0, got low {self.low:g}")
        if self.log and self.step is not None:
            raise ValueError("give either log: true or a step, not both")
        if self.step is not None and self.step <= 0:
            raise ValueError(f"step must be positive, got {self.step:g}")
        return self

    def corners(self) -> list[Any]:
        """The values a plan-time check tries: both ends of a range, every choice."""
        if self.type == "categorical":
            return list(self.choices)
        if self.type == "int":
            return [int(self.low), int(self.high)]
        return [float(self.low), float(self.high)]


class PrunerSpec(Spec):
    """median: stop a trial whose value at a step is worse than the median of earlier trials at that
    step; halving: successive halving (asynchronous); none. Steps are training steps."""

    name: Literal["median", "halving", "none"] = "median"
    startup_trials: Count = Field(default=2, ge=0, description="trials that finish before median pruning starts")
    warmup_steps: Count = Field(default=0, ge=0, description="training steps before median pruning starts")
    min_steps: Count | None = Field(default=None, ge=1, description="halving: the first rung's steps")
    reduction_factor: Count = Field(default=3, ge=2)


class SamplerSpec(Spec):
    """tpe (with a constant liar, for trials that run at once) or random; each trial job seeds its
    sampler with seed + its slot, so trials asked at the same moment differ."""

    name: Literal["tpe", "random"] = "tpe"
    seed: Count | None = Field(default=None, ge=0, description="default: the experiment's training seed")
    startup_trials: Count = Field(default=10, ge=0, description="tpe: random trials before it models the space")


class Search(Spec):
    """What a trial needs to know of its study (the whole `tune:` section but the number of trials,
    so that raising `trials` continues the study without rerunning the trials already made)."""

    params: dict[str, Distribution] = Field(min_length=1, description="the parameters to search, by dotted key path")
    metric: str = Field(description="the validation metric to optimise, e.g. pesq_wb or valid_loss")
    direction: Direction | None = None
    steps: Count | None = Field(default=None, ge=1, description="each trial's training steps")
    pruner: PrunerSpec = PrunerSpec()
    sampler: SamplerSpec = SamplerSpec()
    storage: str | None = Field(
        default=None, description="a journal file path, or an RDB URL (postgresql://..., mysql://...)"
    )


class TuneSpec(Search):
    trials: Count = Field(ge=1, description="how many trials the study runs")

    def search(self) -> Search:
        return Search(**self.model_dump(exclude={"trials"}))
