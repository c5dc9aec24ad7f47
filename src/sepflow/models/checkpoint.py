"""Checkpoints in the DESIGN.md format, written atomically and loaded with weights_only.

A model checkpoint carries what rebuilds the model without the config: model name,
constructor arguments, sample rate, task, the names of the sources it outputs, the channel
count it was trained on, and the state dict. A training checkpoint adds
optimiser, scheduler, scaler, step, history and RNG states so a resumed run continues the
same curve.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from sepflow.errors import SepflowError
from sepflow.files import atomic_path
from sepflow.models import build_model

MODEL_KEYS = ("model", "model_args", "sample_rate", "task", "sources", "channels", "state_dict")
TRAINING_KEYS = {"fingerprint", "model_state", "step_state"}
"""What a training state (train/last.pt) holds in place of a model's keys."""


def atomic_save(obj: dict, path: str | os.PathLike) -> Path:
    """torch.save to a temporary file in the same folder, then rename over `path`."""
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
    return Path(path)


def model_checkpoint(model_name: str, model_args: dict, data, model: nn.Module) -> dict:
    """The inference checkpoint of a model trained on `data` (anything with sample_rate,
    task, sources and channels, e.g. a TrainingData); CPU tensors, so it loads anywhere."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    return {
        "model": model_name,
        "model_args": dict(model_args),
        "sample_rate": int(data.sample_rate),
        "task": data.task,
        "sources": list(data.sources),
        "channels": int(data.channels),
        "state_dict": state,
    }


def training_state_message(path: Path, step: int | None) -> str:
    """Why a training state is not a model, and which files are (those that exist are named)."""
    folder = path.parent
    candidates = [folder.parent / "model.pt", folder / "best.pt"]
    models = [str(p) for p in candidates if p.is_file()] or [str(p) for p in candidates]
    at = f" at step {step}" if step is not None else ""
    return (
        f"{path} is a training state (where a run resumes{at}), not a model; give "
        f"{' or '.join(models)} instead, and keep {path.name}: a rerun of the training continues from it."
    )


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    """Load any sepflow checkpoint safely (weights_only=True); a bad file is a clear error."""
    path = Path(path)
    if not path.is_file():
        raise SepflowError(f"checkpoint not found: {path}; train the experiment first.")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:
        raise SepflowError(f"cannot load checkpoint {path}: {exc}. Delete it and retrain.") from None
    if TRAINING_KEYS <= set(ckpt):
        raise SepflowError(training_state_message(path, ckpt.get("step")))
    missing = [k for k in MODEL_KEYS if k not in ckpt]
    if missing:
        raise SepflowError(
            f"checkpoint {path} lacks {missing}; it was not written by this version of sepflow. Delete it and retrain."
        )
    return ckpt


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[nn.Module, dict]:
    """Rebuild a model from its checkpoint, in eval mode on `device`; returns (model, checkpoint)."""
    ckpt = load_checkpoint(path)
    model = build_model(ckpt["model"], **ckpt["model_args"])
    model.load_state_dict(ckpt["state_dict"], strict=True)
    return model.to(device).eval(), ckpt
