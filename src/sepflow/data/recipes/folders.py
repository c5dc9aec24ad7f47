"""What the two bring-your-own-data recipes share: a user's folder, its splits as
subfolders, read in place and never written."""

from __future__ import annotations

from pathlib import Path

from sepflow.errors import SepflowError


def split_folders(cfg: dict, where: str) -> dict[str, Path]:
    """`splits` maps split names to subfolders of `path` ("." for the folder itself); a list
    of names means subfolders of the same names."""
    if "path" not in cfg:
        raise SepflowError(f"{where}.path: give the folder that holds your data.")
    root = Path(cfg["path"]).expanduser()
    splits = cfg.get("splits")
    if isinstance(splits, list):
        splits = {name: name for name in splits}
    if not isinstance(splits, dict) or not splits:
        raise SepflowError(
            f"{where}.splits: map split names to subfolders of {root}, e.g. {{train: train, test: test}}."
        )
    return {name: (root / sub).resolve() for name, sub in splits.items()}


def existing_folder(folder: Path, where: str) -> Path:
    if not folder.is_dir():
        raise SepflowError(f"{where}: folder not found: {folder}; fix the path or the split's subfolder.")
    return folder
