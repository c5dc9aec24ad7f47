"""Resuming a training run, or starting afresh and saying why.

The training state (last.pt) keeps the parts of its fingerprint (model, model arguments,
recipe, data; `Recipe.fingerprint_parts`) and the validation criterion that chose its best
model. A rerun with the same ones continues the same curve. Any other run starts afresh,
says which parts differ (recipe and argument keys with old -> new values), and first moves
the earlier run's files aside as NAME.previous: one generation, an older .previous is
replaced. best.pt goes too (it is the earlier run's result, and last.pt alone cannot rebuild
it), and so do history.csv and the TensorBoard folder, whose curves would otherwise mix the
two runs. last.pt moves last, so a run killed while moving redoes the move when rerun.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import torch

from sepflow.train.recipe import fingerprint_of

RUN_FILES = ("best.pt", "history.csv", "tensorboard", "last.pt")  # last.pt last: see above
PREVIOUS = ".previous"


def load_state(path: Path) -> dict | None:
    """The saved training state at `path`, if any, in the current layout (states written
    before criteria were named chose their best by the validation loss)."""
    if not path.is_file():
        return None
    saved = torch.load(path, map_location="cpu", weights_only=True)
    if "best" not in saved:
        saved["best"], saved["criterion"] = saved.pop("best_loss"), "valid_loss"
    saved.setdefault("validation_pending", False)
    return saved


def _show(value) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=list)


def _flat(mapping: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in mapping.items():
        if isinstance(value, dict) and value:
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _key_changes(old: dict, new: dict) -> str:
    old, new = _flat(old or {}), _flat(new or {})
    unset = "(unset)"
    return ", ".join(
        f"{key} {_show(old[key]) if key in old else unset} -> {_show(new[key]) if key in new else unset}"
        for key in sorted(old.keys() | new.keys())
        if old.get(key, unset) != new.get(key, unset)
    )


def differences(saved: dict, parts: dict, criterion: str) -> list[str]:
    """What makes the saved state another run's than this one, in words, e.g.
    "the recipe (lr 0.001 -> 0.0005)"; empty when it can be resumed."""
    found = []
    if saved["criterion"] != criterion:
        found.append(f"the validation criterion ({saved['criterion']} -> {criterion})")
    if "fingerprint_parts" not in saved:  # written before the parts were kept
        old, new = saved.get("fingerprint"), fingerprint_of(parts)
        if old != new:
            found.append(f"settings it did not record (fingerprint {old} -> {new})")
        return found
    old, parts = (json.loads(json.dumps(p, default=list)) for p in (saved["fingerprint_parts"], parts))
    if old["model"] != parts["model"]:
        found.append(f"the model ({old['model']} -> {parts['model']})")
    for name, key in (("the model arguments", "args"), ("the recipe", "recipe")):
        changed = _key_changes(old[key], parts[key])
        if changed:
            found.append(f"{name} ({changed})")
    if old["data"] != parts["data"]:
        found.append(f"the data (content {old['data']} -> {parts['data']})")
    return found


def keep_previous(out_dir: Path) -> list[str]:
    """Move the run's files in `out_dir` to NAME.previous (replacing older ones); the names moved."""
    moved = []
    for name in RUN_FILES:
        path, previous = out_dir / name, out_dir / f"{name}{PREVIOUS}"
        if not path.exists():
            continue
        if previous.is_dir():
            shutil.rmtree(previous)
        elif previous.exists():
            previous.unlink()
        os.replace(path, previous)
        moved.append(previous.name)
    return moved
