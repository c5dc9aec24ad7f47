"""Training steps: what one optimisation step does, plugged into the one training loop.

A step owns its optimiser(s), scheduler(s) and any extra networks (a GAN's discriminator),
so the loop stays the same for every model: it draws batches, calls the step, validates,
checkpoints and resumes. A step implements:

    __init__(model, loss_fn, recipe, accelerator, sample_rate, **args)   the model is prepared
    __call__(mixture, targets) -> dict[str, float]   one update on a batch; "loss" first
    end_validation(valid_loss) -> None               e.g. a plateau scheduler
    state_dict() / load_state_dict(state)            all that resume needs beyond the model
    lr                                               the current learning rate, for logs
"""

from __future__ import annotations

import torch

from sepflow.models import as_sources
from sepflow.registry import Registry

STEPS = Registry(
    "step",
    {"supervised": "sepflow.train.steps:SupervisedStep", "metric_gan": "sepflow.train.gan:MetricGANStep"},
    leading=("model", "loss_fn", "recipe", "accelerator", "sample_rate"),
)
OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}


def flat_sources(x: torch.Tensor) -> torch.Tensor:
    """(batch, sources, channels, time) -> (batch, sources * channels, time): what losses take."""
    return x.flatten(1, 2)


class SupervisedStep:
    """A loss between the estimated and the true sources; Adam(W), gradient clipping and a
    learning rate that drops when the validation loss stops improving."""

    def __init__(self, model, loss_fn, recipe, accelerator, sample_rate: int):
        self.model, self.loss_fn, self.recipe, self.accelerator = model, loss_fn, recipe, accelerator
        optimizer = OPTIMIZERS[recipe.optimizer](
            model.parameters(), lr=recipe.lr, betas=recipe.betas, weight_decay=recipe.weight_decay
        )
        self.optimizer = accelerator.prepare(optimizer)
        self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            self.optimizer.optimizer, factor=recipe.lr_factor, patience=recipe.lr_patience
        )

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

    def end_validation(self, valid_loss: float) -> None:
        self.scheduler.step(valid_loss)

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
