"""The training recipe of an experiment, as given in config.yaml under experiments.NAME.train."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import field

from pydantic import ConfigDict, ValidationError
from pydantic.dataclasses import dataclass

from sepflow.errors import SepflowError
from sepflow.specs import Count, Flag, Number, config_error


@dataclass(frozen=True, config=ConfigDict(extra="forbid"))
class Recipe:
    steps: Count = 1000
    batch_size: Count = 8
    segment: Number = 2.0  # seconds per training crop
    lr: Number = 3e-4
    optimizer: str = "adam"  # adam | adamw
    betas: tuple[Number, Number] = (0.9, 0.999)
    weight_decay: Number = 0.0
    loss: dict = field(default_factory=lambda: {"name": "l1"})
    clip_grad: Number = 5.0  # max gradient norm; 0 disables clipping
    valid_every: Count = 100  # steps between validations (and checkpoints)
    valid_items: Count = 0  # 0: the whole validation split
    examples: Count = 3  # validation items written to TensorBoard as audio + spectrograms; 0 none
    lr_factor: Number = 0.5  # ReduceLROnPlateau on the validation loss
    lr_patience: Count = 2  # validations without improvement before the LR drops
    early_stop: Count = 0  # validations without improvement before stopping; 0 never
    mixed_precision: Flag = True  # fp16 autocast, on CUDA only
    num_workers: Count | None = None  # DataLoader worker processes; None: the job's threads but one
    log_every: Count = 20
    seed: Count = 0
    processes: Count = 1  # training processes (GPUs of one node); batch_size stays the global batch
    step: dict = field(default_factory=lambda: {"name": "supervised"})  # sepflow.train.steps.STEPS

    @classmethod
    def from_config(cls, cfg: dict, where: str = "train") -> Recipe:
        """Build from a config mapping; an unknown or bad key names itself and the fix."""
        try:
            recipe = cls(**cfg)
        except ValidationError as exc:
            raise config_error(cls, exc, where) from None
        for key in ("steps", "batch_size", "valid_every", "log_every", "processes"):
            if getattr(recipe, key) < 1:
                raise SepflowError(f"{where}.{key} must be at least 1, got {getattr(recipe, key)}")
        if recipe.batch_size % recipe.processes:
            raise SepflowError(
                f"{where}.batch_size {recipe.batch_size} is the global batch and must divide "
                f"evenly among {where}.processes = {recipe.processes}"
            )
        if recipe.examples < 0:
            raise SepflowError(
                f"{where}.examples must be a number of validation items, 0 for none, got {recipe.examples}"
            )
        if recipe.num_workers is not None and recipe.num_workers < 0:
            raise SepflowError(
                f"{where}.num_workers: {recipe.num_workers} is negative; give a number of loader processes, "
                "0 to load in the training process, or leave it out to take the job's threads"
            )
        if recipe.clip_grad < 0:
            raise SepflowError(
                f"{where}.clip_grad: {recipe.clip_grad} is negative; give a maximum gradient norm, 0 for none"
            )
        if recipe.segment <= 0 or recipe.lr <= 0:
            raise SepflowError(f"{where}: segment and lr must be positive")
        if "name" not in recipe.loss:
            raise SepflowError(f"{where}.loss needs a 'name' (e.g. l1_mrstft)")
        if recipe.optimizer not in ("adam", "adamw"):
            raise SepflowError(f"{where}.optimizer must be adam or adamw, got {recipe.optimizer!r}")
        return recipe

    def fingerprint_parts(self, model: str, model_args: dict, data: str) -> dict:
        """What a resumed run must share with the run it continues: the model, its arguments,
        the data it learns from (a content hash) and all of the recipe but the step budget,
        the logging/early-stop knobs (TensorBoard examples included) and the number of
        processes, which may change between runs (the global batch and its items do not
        depend on the processes, and results agree within float tolerance:
        tests/unit/test_distributed.py). Kept in the training state, so that a run that
        cannot resume says which part changed."""
        keep = {
            k: v
            for k, v in dataclasses.asdict(self).items()
            if k not in ("steps", "early_stop", "log_every", "examples", "num_workers", "processes")
        }
        return {"model": model, "args": model_args, "recipe": keep, "data": data}

    def fingerprint(self, model: str, model_args: dict, data: str) -> str:
        """A short hash of `fingerprint_parts`."""
        return fingerprint_of(self.fingerprint_parts(model, model_args, data))


def fingerprint_of(parts: dict) -> str:
    blob = json.dumps(parts, sort_keys=True, default=list)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
