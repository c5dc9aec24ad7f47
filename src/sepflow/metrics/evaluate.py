"""Evaluate a folder of estimates against the references of a test set, by task.

Items are dicts with an `id` and absolute paths: `mixture`, `references` ({source: path})
and `estimates` ({source: path}); the caller resolves them from the manifest and the
enhanced folder's layout. The task's metric set (sepflow.metrics.tasks) gives each item's
rows. Every problem a user can cause (a missing or corrupt file, a wrong rate, lengths
that do not match, a silent reference) stops the run with one SepflowError naming the
file and the fix. An estimate that is late or early against its reference is not such a
problem but a result: the metric sets score it NaN where a delay would decide the number,
with the lag as the reason (sepflow.metrics.lag), and the tables count it as failed.
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
from threadpoolctl import threadpool_limits

from sepflow.audio import read_audio, rms_db
from sepflow.data.manifest import Manifest, estimate_paths
from sepflow.errors import SepflowError
from sepflow.files import write_atomic
from sepflow.metrics.tasks import LIBRARY_LOADERS, METRIC_SETS
from sepflow.metrics.threads import single_thread_worker

LENGTH_TOLERANCE_S = 0.01
"""Estimates may be up to one STFT hop (10 ms) longer or shorter than the reference;
the extra samples are cut. A larger difference means the wrong file or a broken model."""
SILENCE_DB = -90.0
"""A reference below this RMS level (dBFS) holds no signal to score against."""
MIN_DURATION_S = 0.25
"""PESQ refuses signals shorter than a quarter of a second."""
ITEMS_PER_TASK = 1
"""Items handed to a worker at a time. An item takes 0.1 to 1.5 s of metrics (DNSMOS most of
it) and passing one to a worker well under a millisecond, so one at a time costs nothing and
keeps every worker busy to the end, where chunks of several can leave one worker idle while
another finishes its last chunk."""


def _check_length(path: Path, length: int, reference_length: int, tolerance: int, fix: str) -> None:
    if abs(length - reference_length) > tolerance:
        raise SepflowError(
            f"{path} has {length} samples but its reference has {reference_length} (more than {tolerance} apart); {fix}"
        )


def _load_item(item: dict, sample_rate: int) -> tuple[dict, dict, np.ndarray]:
    """Read references, estimates and the mixture of one item, cut to a common length."""
    item_id = item["id"]
    read = {
        path: read_audio(path, expected_sr=sample_rate)[0]
        for path in [item["mixture"], *item["references"].values(), *item["estimates"].values()]
    }
    mixture = read[item["mixture"]]
    reference_length = next(iter(read[p] for p in item["references"].values())).shape[-1]
    tolerance = round(LENGTH_TOLERANCE_S * sample_rate)
    for path in [item["mixture"], *item["references"].values()]:
        _check_length(
            Path(path),
            read[path].shape[-1],
            reference_length,
            tolerance,
            "the test set is inconsistent; rebuild its audio and manifest.",
        )
    for path in item["estimates"].values():
        _check_length(
            Path(path),
            read[path].shape[-1],
            reference_length,
            tolerance,
            "delete the enhanced folder and rerun the enhance stage.",
        )
        if read[path].shape[0] != mixture.shape[0]:
            raise SepflowError(
                f"{path} has {read[path].shape[0]} channel(s) but the mixture has {mixture.shape[0]}; "
                "delete the enhanced folder and rerun the enhance stage."
            )
    n = min(audio.shape[-1] for audio in read.values())
    if n < MIN_DURATION_S * sample_rate:
        raise SepflowError(
            f"item {item_id} ({item['mixture']}) lasts {n / sample_rate:.3f} s; metrics need at least "
            f"{MIN_DURATION_S} s. Remove the item from the test set."
        )
    for name, path in item["references"].items():
        if rms_db(read[path][:, :n]) < SILENCE_DB and len(item["references"]) == 1:
            raise SepflowError(
                f"the {name} reference of item {item_id} is silent ({path}); no metric can be "
                "computed against it. Remove the item from the test set or regenerate its audio."
            )
    references = {name: read[path][:, :n] for name, path in item["references"].items()}
    estimates = {name: read[path][:, :n] for name, path in item["estimates"].items()}
    return references, estimates, mixture[:, :n]


def _evaluate_item(item: dict, task: str, sample_rate: int, options: dict) -> list[dict]:
    references, estimates, mixture = _load_item(item, sample_rate)
    return [
        {"id": item["id"], **row} for row in METRIC_SETS[task](references, estimates, mixture, sample_rate, **options)
    ]


def _check_estimates_exist(items: Sequence[dict]) -> None:
    """Fail before any work when estimates are missing, naming the first one and the count."""
    missing = [(item["id"], path) for item in items for path in item["estimates"].values() if not Path(path).is_file()]
    if missing:
        raise SepflowError(
            f"estimate missing for item {missing[0][0]}: {missing[0][1]} "
            f"({len(missing)} file(s) missing). Run the enhance stage for this experiment and test set first."
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


def evaluate_items(items: Sequence[dict], task: str, sample_rate: int, workers: int = 1, **options) -> pd.DataFrame:
    """The rows of every item (one for speech, one per source for music), in the order of
    `items`; a process pool when workers > 1. Every worker, this process too when it is the
    only one, runs the numerical libraries on one thread: their own thread pools would only
    fight the other workers (or jobs) for the cores. Columns are what the task's metric set
    gives; `options` go to it (dnsmos=...)."""
    if task not in METRIC_SETS:
        raise SepflowError(f"no metric set for task {task!r}; known: {sorted(METRIC_SETS)}")
    _check_estimates_exist(items)
    work = partial(_evaluate_item, task=task, sample_rate=sample_rate, options=options)
    workers = min(workers, len(items))
    if task in LIBRARY_LOADERS:  # here, once, rather than in every forked worker
        LIBRARY_LOADERS[task](**options)
    if workers > 1:
        pool = ProcessPoolExecutor(workers, mp_context=_pool_context(), initializer=single_thread_worker)
        try:
            per_item = list(_logged(pool.map(work, items, chunksize=ITEMS_PER_TASK), len(items)))
        finally:
            pool.shutdown(cancel_futures=True)  # an error stops the queued work too
    else:
        with threadpool_limits(limits=1):  # as single_thread_worker, until the items are done
            per_item = list(_logged(map(work, items), len(items)))
    return pd.DataFrame([row for rows in per_item for row in rows])


def write_metrics_csv(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write per-item metrics as CSV atomically, so a crash never leaves half a table."""
    return write_atomic(path, df.to_csv(index=False))


def manifest_items(manifest: Manifest, enhanced_dir: str | os.PathLike) -> list[dict]:
    """The evaluation items of a test split whose estimates are in `enhanced_dir`."""
    return [
        {
            "id": it["id"],
            "mixture": str(manifest.mixture_path(it)),
            "references": {k: str(v) for k, v in manifest.target_paths(it).items()},
            "estimates": {k: str(v) for k, v in estimate_paths(enhanced_dir, it["id"], manifest.sources).items()},
        }
        for it in manifest.items
    ]


def evaluate_manifest(
    manifest: Manifest, enhanced_dir: str | os.PathLike, out_csv: str | os.PathLike, workers: int = 1, **options
) -> pd.DataFrame:
    """Evaluate an enhanced folder against a test manifest and write the per-item CSV."""
    frame = evaluate_items(
        manifest_items(manifest, enhanced_dir), manifest.task, manifest.sample_rate, workers, **options
    )
    write_metrics_csv(frame, out_csv)
    return frame
