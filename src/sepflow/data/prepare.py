"""The prepare stage: a dataset's recipe downloads what it needs into data/raw/{dataset}
(if it downloads), then writes data/audio/{dataset} through a temporary folder, so an
interrupted preparation never leaves a half-made corpus behind."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sepflow.data.recipes.base import CorpusRecipe
from sepflow.files import atomic_folder


def prepare_dataset(
    recipe: CorpusRecipe,
    audio_dir: str | Path,
    raw_dir: str | Path,
    seed: int,
    workers: int = 1,
    log: Callable[[str], None] = print,
) -> Path:
    """Prepare one configured dataset (its recipe decides how) into `audio_dir`."""
    recipe.download(Path(raw_dir), log)  # checksummed and resumable; kept in raw_dir between runs
    with atomic_folder(audio_dir) as staging:
        recipe.prepare(staging, raw_dir=Path(raw_dir), seed=seed, workers=workers, log=log)
    return Path(audio_dir)
