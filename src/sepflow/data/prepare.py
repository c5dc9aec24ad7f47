"""The prepare stage: a dataset's recipe downloads what it needs into data/raw/{dataset}
(if it downloads), then writes data/audio/{dataset} through a hidden staging folder
(`data/staging.py`): an interrupted preparation never leaves a half-made corpus behind, and
the next one keeps the files it finished and does only what is missing."""

from __future__ import annotations

import json
from pathlib import Path

from sepflow import __version__
from sepflow.data.recipes.base import CorpusRecipe
from sepflow.data.staging import resumable_folder
from sepflow.disk import DiskFull


def preparation_fingerprint(recipe: CorpusRecipe, seed: int) -> str:
    """What decides a prepared folder's content: the dataset's settings, the seed and the code."""
    options = recipe.options.model_dump(mode="json")
    return json.dumps({"dataset": options, "seed": seed, "sepflow": __version__}, sort_keys=True)


def prepare_dataset(
    recipe: CorpusRecipe,
    audio_dir: str | Path,
    raw_dir: str | Path,
    seed: int,
    workers: int = 1,
) -> Path:
    """Prepare one configured dataset (its recipe decides how) into `audio_dir`."""
    recipe.check_contents(f"datasets.{Path(audio_dir).name}")
    recipe.download(Path(raw_dir))  # checksummed and resumable; kept in raw_dir between runs
    audio_dir = Path(audio_dir)
    try:
        with resumable_folder(audio_dir, preparation_fingerprint(recipe, seed)) as staging:
            recipe.prepare(staging.path, raw_dir=Path(raw_dir), seed=seed, workers=workers, journal=staging.journal)
    except DiskFull as exc:  # named after the dataset's folder, not its hidden staging
        raise DiskFull(audio_dir.parent, exc.needed, f"preparing {audio_dir.name}") from None
    return audio_dir
