"""Training steps: what one optimisation step does, and what validation measures, plugged
into the one training loop.

A step owns its optimiser(s), scheduler(s) and any extra networks (a GAN's discriminator),
and says how the model is judged, so the loop stays the same for every model: it draws
batches, calls the step, validates, checkpoints and resumes. A step implements:

    __init__(model, loss_fn, recipe, accelerator, sample_rate, **args)   the model is prepared
    check(sources, channels, sample_rate, where)  (classmethod) the data it can train on, else SepflowError
    __call__(mixture, targets) -> dict[str, float]   one update on a batch; "loss" first
    criterion: Criterion                             the validation column and what "best" means
    estimate(model, mixture, sources) -> Tensor      a whole item's estimate, (batch, sources, channels, time)
    score(estimate, targets) -> float                one validation item's value of the criterion
    end_validation(value) -> None                    e.g. a plateau scheduler
    state_dict() / load_state_dict(state)            all that resume needs beyond the model
    lr                                               the current learning rate, for logs
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from sepflow.models import as_sources
from sepflow.registry import Registry

STEPS = Registry(
    "step",
    {"supervised": "sepflow.train.steps:SupervisedStep", "metric_gan": "sepflow.train.gan:MetricGANStep"},
    leading=("model", "loss_fn", "recipe", "accelerator", "sample_rate"),
)
OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}


@dataclass(frozen=True)
class Criterion:
    """What validation measures to choose the best model: the history column it fills, its
    label in log lines, its direction, and whether an item it cannot score (NaN) means
    training diverged (a loss) or is left out of the mean (a metric such as PESQ, which
    cannot score a silent estimate)."""

    column: str
    label: str
    higher_is_better: bool = False
    nan_is_divergence: bool = True

    @property
    def worst(self) -> float:
        return -math.inf if self.higher_is_better else math.inf

    def improves(self, value: float, best: float) -> bool:
        return value > best if self.higher_is_better else value < best


VALID_LOSS = Criterion("valid_loss", "valid loss")


def flat_sources(x: torch.Tensor) -> torch.Tensor:
    """(batch, sources, channels, time) -> (batch, sources * channels, time): what losses take."""
    return x.flatten(1, 2)


def whole_estimate(model, mixture: torch.Tensor, sources: int) -> torch.Tensor:
    """The model run on whole items: (batch, sources, channels, time) in float32."""
    return as_sources(model(mixture), sources).float()


def step_class(step: dict, where: str = "train.step"):
    """The class of the step a recipe's `step: {name: ...}` names."""
    return STEPS.load(step.get("name", "supervised"), f"{where}.name")


def check_step_data(
    step: dict, sources: tuple[str, ...], channels: int | None, sample_rate: int, where: str = "train.step"
) -> None:
    """Refuse, in one line naming `where`, data the recipe's step cannot train on (sources,
    channels when known, sample rate): callable when the config is planned, before any job."""
    step_class(step, where).check(tuple(sources), channels, sample_rate, where)


class SupervisedStep:
    """A loss between the estimated and the true sources; Adam(W), gradient clipping and a
    learning rate that drops when the validation loss stops improving. Validation is the
    same loss on whole items; lower is better."""

    criterion = VALID_LOSS

    def __init__(self, model, loss_fn, recipe, accelerator, sample_rate: int):
        self.model, self.loss_fn, self.recipe, self.accelerator = model, loss_fn, recipe, accelerator
        optimizer = OPTIMIZERS[recipe.optimizer](
            model.parameters(), lr=recipe.lr, betas=recipe.betas, weight_decay=recipe.weight_decay
        )
        self.optimizer = accelerator.prepare(optimizer)
        self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            self.optimizer.optimizer, factor=recipe.lr_factor, patience=recipe.lr_patience
        )

    @classmethod
    def check(cls, sources: tuple[str, ...], channels: int | None, sample_rate: int, where: str) -> None:
        """Any sources and channels: the loss compares every source's every channel."""

    def __call__(self, mixture: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
        self.model.train()
        with self.accelerator.autocast():
            estimate = as_sources(self.model(mixture), targets.shape[1])
        loss = self.loss_fn(flat_sources(estimate).float(), flat_sources(targets))
        if not torch.isfinite(loss):
            return {"loss": loss.item()}
        self.optimizer.zero_grad(set_to_none=True)
        self.accelerator.backward(loss)
        if self.recipe.clip_grad > 0:
            self.accelerator.clip_grad_norm_(self.model.parameters(), self.recipe.clip_grad)
        self.optimizer.step()
        return {"loss": loss.item()}

    def estimate(self, model, mixture: torch.Tensor, sources: int) -> torch.Tensor:
        return whole_estimate(model, mixture, sources)

    def score(self, estimate: torch.Tensor, targets: torch.Tensor) -> float:
        return self.loss_fn(flat_sources(estimate), flat_sources(targets)).item()

    def end_validation(self, value: float) -> None:
        self.scheduler.step(value)

    @property
    def lr(self) -> float:
        return self.optimizer.param_groups[0]["lr"]

    def state_dict(self) -> dict:
        return {"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])


def build_step(model, loss_fn, recipe, accelerator, sample_rate: int):
    """The step the recipe names (`step: {name: ..., **args}`), built for `model`."""
    args = dict(recipe.step)
    name = args.pop("name", "supervised")
    return STEPS.build(name, model, loss_fn, recipe, accelerator, sample_rate, where="train.step", **args)
