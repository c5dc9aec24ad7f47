"""The metric set of each task: what an evaluated item yields, as rows of named values.

A metric set takes the references and estimates of one item by source, each (channels, T)
and cut to one length, with the mixture and the sample rate, and returns the item's rows:
one row for speech, one per source for music (with a `source` column); options of a
set (dnsmos=False) come from the workflow's evaluation settings. Evaluation writes
whatever columns the rows have, so a new metric needs no change outside its set.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

import numpy as np

from sepflow.metrics import dnsmos as _dnsmos
from sepflow.metrics.music import music_metrics
from sepflow.metrics.speech import SPEECH_COLUMNS, speech_metrics

Rows = list[dict]


def speech_rows(
    references: dict[str, np.ndarray],
    estimates: dict[str, np.ndarray],
    mixture: np.ndarray,
    sample_rate: int,
    dnsmos: bool = True,
) -> Rows:
    """Speech metrics of the one source, with a `reasons` column for the NaN ones; a
    multi-channel item is scored per channel and the channels' values averaged."""
    ((name, reference),) = references.items()
    per_channel = [
        speech_metrics(reference[c], estimates[name][c], mixture[c], sample_rate, dnsmos=dnsmos)
        for c in range(reference.shape[0])
    ]
    row = {key: float(np.mean([values[key] for values, _ in per_channel])) for key in SPEECH_COLUMNS}
    reasons = {key: why for _, channel_reasons in per_channel for key, why in channel_reasons.items()}
    return [{**row, "reasons": "; ".join(f"{key}: {why}" for key, why in reasons.items())}]


def music_rows(
    references: dict[str, np.ndarray],
    estimates: dict[str, np.ndarray],
    mixture: np.ndarray,
    sample_rate: int,
    **options,
) -> Rows:
    """Per source: museval's BSSEval v4 (SDR, SIR, SAR, ISR; median over 1 s frames) and SI-SDR."""
    return music_metrics(
        {name: ref.T for name, ref in references.items()}, {name: estimates[name].T for name in references}, sample_rate
    )


METRIC_SETS: dict[str, Callable[..., Rows]] = {"speech": speech_rows, "music": music_rows}


def load_speech_libraries(dnsmos: bool = True) -> None:
    """What the speech set's first item would import lazily: DNSMOS's librosa modules."""
    if dnsmos:
        _dnsmos.load_libraries()


def load_music_libraries(**options) -> None:
    """What the music set's first item would import lazily: museval (musdb, stempeg)."""
    importlib.import_module("museval")


LIBRARY_LOADERS: dict[str, Callable[..., None]] = {"speech": load_speech_libraries, "music": load_music_libraries}
"""For the sets whose metrics import modules on their first call: called with the set's
options before evaluation forks its workers, so they share these modules rather than each
importing them (seconds per worker)."""
