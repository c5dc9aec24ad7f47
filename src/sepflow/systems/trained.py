"""A model we train: `model`, its `args`, the `data` it learns from and the `train` recipe.

Everything is checked when the config is read: the model and its arguments, the recipe's keys
and bounds, the step and its arguments, the loss (built and run on a silent training segment,
so a segment too short for its analysis is named now), and the splits it learns from."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping
from typing import Any, Literal

import torch

from sepflow.data.datasets.specs import TrainingDataSpec
from sepflow.errors import SepflowError
from sepflow.losses import build_loss
from sepflow.models import MODELS
from sepflow.specs import SplitRef
from sepflow.systems.base import PlanContext
from sepflow.systems.checkpoint import ModelFileSystem
from sepflow.systems.splits import check_pool, check_split
from sepflow.train.job import TrainJob
from sepflow.train.recipe import Recipe
from sepflow.train.steps import STEPS, check_step_data
from sepflow.tune.paths import set_at


class TrainedSystem(ModelFileSystem):
    kind: Literal["trained"] = "trained"
    model: str
    args: dict[str, Any] = {}
    data: TrainingDataSpec
    train: dict[str, Any]
    """The whole training recipe (sepflow.train.recipe.Recipe), defaults and seed included."""

    config_key = "model"
    makes_model = "train_model"
    keys = ("model", "args", "data", "train")

    @classmethod
    def from_config(cls, section: Mapping[str, Any], where: str, context: PlanContext) -> TrainedSystem:
        for key in ("data", "train"):
            if key not in section:
                raise SepflowError(f"{where}: a trained model needs a '{key}' section.")
        model = section["model"]
        if model not in MODELS:
            raise MODELS.unknown(model, f"{where}.model")
        args = section.get("args") or {}
        if not isinstance(args, Mapping):
            raise SepflowError(f"{where}.args: give the model's constructor arguments as a mapping, got {args!r}")
        MODELS.bind(model, args, f"{where}.args")
        recipe = _recipe(section["train"], f"{where}.train", context.seed)
        data = TrainingDataSpec.parse(section["data"], f"{where}.data")
        _check_data(data, context, f"{where}.data")
        learned = context.datasets[data.learns_from]
        _check_learning(recipe, learned.sources(), learned.sample_rate, where)
        return cls(model=model, args=dict(args), data=data, train=dataclasses.asdict(recipe))

    def with_values(
        self, values: Mapping[str, Any], where: str, sources: tuple[str, ...], sample_rate: int
    ) -> TrainedSystem:
        """This system with `values` set at dotted key paths into its args and recipe (`train.lr`,
        `args.hidden`, `train.loss.terms[0].weight`), checked by the code that checks a config (the
        model's arguments, the recipe's keys and bounds, the step and the loss on the data's
        `sources` at `sample_rate`): a search's trial, whose mistakes name `where.PATH`."""
        given = {"args": copy.deepcopy(self.args), "train": copy.deepcopy(self.train)}
        for path, value in values.items():
            set_at(given, path, value, where)
        MODELS.bind(self.model, given["args"], f"{where}.args")
        recipe = _recipe(given["train"], f"{where}.train", self.train["seed"])
        _check_learning(recipe, sources, sample_rate, where)
        return self.model_copy(update={"args": given["args"], "train": dataclasses.asdict(recipe)})

    @property
    def recipe(self) -> Recipe:
        return Recipe.from_config(self.train)

    def learns_from(self) -> str:
        return self.data.learns_from

    def training_splits(self) -> list[SplitRef]:
        return self.data.splits()

    def check_test_set(self, split, experiment, enhance, context) -> None:
        """A trained model can be scored only on a test set of its own task, sources and rate; on
        another dataset than it learned from, how a mono model hears several channels must be the
        user's choice, not a silent default (checked without audio: it may not exist yet)."""
        where, learned = f"experiments.{experiment}.test_sets", self.learns_from()
        trained, tested = context.datasets[learned], context.datasets[split.dataset]
        if trained.task != tested.task or trained.sources() != tested.sources():
            raise SepflowError(
                f"{where}: {split} is a {tested.task} test set with sources {list(tested.sources())}, but the "
                f"model learns {list(trained.sources())} from {learned}; test it on a {trained.task} test set."
            )
        if trained.sample_rate != tested.sample_rate:
            raise SepflowError(
                f"{where}: {split} is at {tested.sample_rate} Hz but the model learns at "
                f"{trained.sample_rate} Hz from {learned}; give both datasets one sample_rate."
            )
        if split.dataset != learned and enhance.channels is None:
            raise SepflowError(
                f"experiments.{experiment}.enhance.channels: {experiment} learns from {learned} but is tested on "
                f"{split}, whose audio may have other channels; declare how a mono model hears multi-channel "
                "audio, per_channel or downmix (here or under the global enhance:)."
            )

    def processes(self) -> int:
        return int(self.train["processes"])

    def train_job(self, experiment: str, manifests: dict[str, str], out_dir: str, device: str) -> TrainJob:
        return TrainJob(
            experiment=experiment,
            model=self.model,
            args=self.args,
            data=self.data,
            recipe=self.train,
            manifests=manifests,
            out_dir=out_dir,
            device=device,
        )


def _recipe(section: Any, where: str, seed: int) -> Recipe:
    """The recipe with the global seed unless the experiment sets its own, and its step."""
    if not isinstance(section, Mapping):
        raise SepflowError(f"{where}: give the training recipe as a mapping of keys, got {section!r}")
    recipe = Recipe.from_config({"seed": seed, **section}, where)
    step = dict(recipe.step)
    name = step.pop("name", "supervised")
    if name not in STEPS:
        raise STEPS.unknown(name, f"{where}.step.name")
    STEPS.bind(name, step, f"{where}.step")
    return recipe


def _check_learning(recipe: Recipe, sources: tuple[str, ...], sample_rate: int, where: str) -> None:
    """The recipe's step and loss against the data it learns from."""
    check_step_data(recipe.step, sources, None, sample_rate, f"{where}.train.step")
    _check_loss(recipe.loss, sample_rate, recipe.segment, f"{where}.train.loss")


def _check_data(data: TrainingDataSpec, context: PlanContext, where: str) -> None:
    if data.mixing is not None:
        for role, pool in data.mixing.pools():
            check_pool(context.datasets, pool, f"{where}.mixing.{role}")
        return
    train, valid = data.splits()
    check_split(context.datasets, train, f"{where}.train")
    check_split(context.datasets, valid, f"{where}.valid")


def _check_loss(loss: dict, sample_rate: int, segment_seconds: float, where: str) -> None:
    """Losses are small and some pass arguments on (l1_mrstft to the STFT loss, sum to its
    terms), so each is built and run once on a silent batch of the training segment: a typo,
    a bad value or a segment too short for the loss's analysis names the loss's key now,
    not at the first training step."""
    silence = torch.zeros(1, 1, round(segment_seconds * sample_rate))
    try:
        build_loss(sample_rate=sample_rate, **loss)(silence, silence)
    except SepflowError as exc:
        raise SepflowError(f"{where}: {exc}") from None
