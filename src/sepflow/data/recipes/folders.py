"""What the two bring-your-own-data recipes share: a user's folder, its splits as
subfolders, read in place and never written."""

from __future__ import annotations

from pathlib import Path

from pydantic import field_validator

from sepflow.data.recipes.base import CorpusRecipe, DatasetOptions
from sepflow.errors import SepflowError


class FolderOptions(DatasetOptions):
    path: str
    splits: dict[str, str] | list[str]
    """split name -> subfolder of `path` ("." for the folder itself); a list of names means
    subfolders of the same names."""

    @field_validator("splits")
    @classmethod
    def _some(cls, splits):
        if not splits:
            raise ValueError("map split names to subfolders of path, e.g. {train: train, test: test}")
        return splits


class UserFolder(CorpusRecipe):
    """A user's corpus in a folder of split subfolders."""

    def split_folders(self) -> dict[str, Path]:
        root = Path(self.options.path).expanduser()
        splits = self.options.splits
        named = {name: name for name in splits} if isinstance(splits, list) else splits
        return {name: (root / sub).resolve() for name, sub in named.items()}


def existing_folder(folder: Path, where: str) -> Path:
    if not folder.is_dir():
        raise SepflowError(f"{where}: folder not found: {folder}; fix the path or the split's subfolder.")
    return folder
