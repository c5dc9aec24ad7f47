"""Evaluate a folder of enhanced files against the clean and noisy audio of a test set.

Items are dicts with an `id` and absolute `clean` and `noisy` paths (the caller resolves
manifest paths); the estimate of an item is `{enhanced_dir}/{id}.wav`. Every problem a
user can cause (a missing or corrupt file, a wrong rate, lengths that do not match, a
silent reference) stops the run with one SepflowError naming the file and the fix.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from sepflow.audio import read_audio, rms_db
from sepflow.errors import SepflowError
from sepflow.files import write_atomic
from sepflow.metrics.speech import speech_metrics


METRIC_COLUMNS = ("pesq", "stoi", "si_snr", "si_snr_noisy", "si_snr_i")
LENGTH_TOLERANCE_S = 0.01
"""Estimates may be up to one STFT hop (10 ms) longer or shorter than the reference;
the extra samples are cut. A larger difference means the wrong file or a broken model."""
SILENCE_DB = -90.0
"""A reference below this RMS level (dBFS) holds no speech to score against."""
MIN_DURATION_S = 0.25
"""PESQ refuses signals shorter than a quarter of a second."""


def enhanced_path(enhanced_dir: str | os.PathLike, item_id: str) -> Path:
    """Where the enhance stage writes the estimate of an item."""
    return Path(enhanced_dir) / f"{item_id}.wav"


def _read_mono(path: str | os.PathLike, sample_rate: int, item_id: str) -> np.ndarray:
    audio, _ = read_audio(path, expected_sr=sample_rate)
    if audio.shape[0] != 1:
        raise SepflowError(
            f"{path} (item {item_id}) has {audio.shape[0]} channels; speech metrics need mono "
            "files. Write mono estimates, or downmix the file."
        )
    return audio[0]


def _check_length(path: Path, length: int, reference_length: int, tolerance: int, fix: str) -> None:
    if abs(length - reference_length) > tolerance:
        raise SepflowError(
            f"{path} has {length} samples but its clean reference has {reference_length} "
            f"(more than {tolerance} apart); {fix}"
        )


def _load_item(item: dict, enhanced_dir: Path, sample_rate: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Read clean, estimate and noisy audio of one item and cut them to a common length."""
    item_id = item["id"]
    estimate_path = enhanced_path(enhanced_dir, item_id)
    clean = _read_mono(item["clean"], sample_rate, item_id)
    noisy = _read_mono(item["noisy"], sample_rate, item_id)
    estimate = _read_mono(estimate_path, sample_rate, item_id)
    tolerance = round(LENGTH_TOLERANCE_S * sample_rate)
    _check_length(
        Path(item["noisy"]), noisy.size, clean.size, tolerance,
        "the test set is inconsistent; rebuild its audio and manifest.",
    )
    _check_length(
        estimate_path, estimate.size, clean.size, tolerance,
        "delete the enhanced folder and rerun the enhance stage.",
    )
    n = min(clean.size, noisy.size, estimate.size)
    if n < MIN_DURATION_S * sample_rate:
        raise SepflowError(
            f"item {item_id} ({item['clean']}) lasts {n / sample_rate:.3f} s; PESQ needs at least "
            f"{MIN_DURATION_S} s. Remove the item from the test set."
        )
    if rms_db(clean[:n]) < SILENCE_DB:
        raise SepflowError(
            f"the clean reference of item {item_id} is silent ({item['clean']}); no metric can be "
            "computed against it. Remove the item from the test set or regenerate its audio."
        )
    return clean[:n], estimate[:n], noisy[:n]


def _evaluate_item(item: dict, enhanced_dir: Path, sample_rate: int) -> dict:
    clean, estimate, noisy = _load_item(item, enhanced_dir, sample_rate)
    return {"id": item["id"], **speech_metrics(clean, estimate, noisy, sample_rate)}


def _check_estimates_exist(items: Sequence[dict], enhanced_dir: Path) -> None:
    """Fail before any work when estimates are missing, naming the first one and the count."""
    missing = [item["id"] for item in items if not enhanced_path(enhanced_dir, item["id"]).is_file()]
    if missing:
        raise SepflowError(
            f"enhanced file missing for item {missing[0]}: {enhanced_path(enhanced_dir, missing[0])} "
            f"({len(missing)} of {len(items)} items have no estimate). Run the enhance stage "
            "for this experiment and test set first."
        )


def _pool_context() -> multiprocessing.context.BaseContext:
    """fork on Linux: workers start at once and an unguarded workflow script is not re-run."""
    return multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")


def _logged(rows: Iterable[dict], total: int) -> Iterator[dict]:
    step = max(1, total // 10)
    for done, row in enumerate(rows, start=1):
        if done % step == 0 or done == total:
            print(f"evaluated {done}/{total} items", flush=True)
        yield row


def evaluate_items(
    items: Sequence[dict],
    enhanced_dir: str | os.PathLike,
    sample_rate: int,
    workers: int = 1,
) -> pd.DataFrame:
    """One row of metrics per item, in the order of `items`; a process pool when workers > 1."""
    enhanced_dir = Path(enhanced_dir)
    _check_estimates_exist(items, enhanced_dir)
    task = partial(_evaluate_item, enhanced_dir=enhanced_dir, sample_rate=sample_rate)
    workers = min(workers, len(items))
    if workers > 1:
        pool = ProcessPoolExecutor(workers, mp_context=_pool_context())
        try:
            chunksize = max(1, len(items) // (workers * 8))
            rows = list(_logged(pool.map(task, items, chunksize=chunksize), len(items)))
        finally:
            pool.shutdown(cancel_futures=True)  # an error stops the queued work too
    else:
        rows = list(_logged(map(task, items), len(items)))
    return pd.DataFrame(rows, columns=["id", *METRIC_COLUMNS])


def write_metrics_csv(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write per-item metrics as CSV atomically, so a crash never leaves half a table."""
    return write_atomic(path, df.to_csv(index=False))


def evaluate_manifest(manifest, enhanced_dir: str | os.PathLike, out_csv: str | os.PathLike, workers: int = 1) -> pd.DataFrame:
    """Evaluate an enhanced folder against a paired manifest and write the per-item CSV."""
    items = [{"id": it["id"], **{k: str(v) for k, v in manifest.paths(it).items()}} for it in manifest.items]
    frame = evaluate_items(items, enhanced_dir, manifest.sample_rate, workers=workers)
    write_metrics_csv(frame, out_csv)
    return frame
