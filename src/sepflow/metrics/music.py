"""Per-track music separation metrics as SiSEC reports them: museval's BSSEval v4.

BSSEval v4 scores all stems of a track jointly (the interference of one stem is measured
against the others) over 1 s frames: SDR, SIR, SAR and ISR per stem and frame. A frame in
which any reference or any estimate is digitally silent has no score (museval gives NaN for
every stem in it), and museval refuses a track where a whole reference or estimate is
silent, so that track's BSSEval values are NaN for every stem (SI-SDR is still scored for
the stems where it is defined). A track's score per stem is the median over its scored frames, and a
test set's the median over tracks (`median_over_tracks`). SI-SDR over the whole stem, all
channels together, sits beside them. Undefined values stay NaN, never a stand-in number, and
each row's `reasons` says why.

A stem estimate that is late or early against its reference (sepflow.metrics.lag) gets NaN
for every metric, with its lag as the reason: SI-SDR compares samples at equal times, and
BSSEval's 512-tap distortion filter absorbs a delay only partly (up to 11.6 ms late, never
early), so its numbers would measure the delay. Each estimate is projected on the references
alone, so the other stems' rows are unaffected.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from sepflow.audio import si_snr
from sepflow.metrics.lag import misalignment

BSS_METRICS = ("sdr", "sir", "sar", "isr")
MUSIC_METRICS = (*BSS_METRICS, "si_sdr")


def _nanmedian(values: np.ndarray) -> float:
    """Median of the scored frames; NaN (without a warning) when no frame was scored."""
    values = values[~np.isnan(values)]
    return float(np.median(values)) if values.size else float("nan")


def si_sdr(estimate: np.ndarray, reference: np.ndarray) -> float:
    """Scale-invariant SDR in dB over all channels; NaN when either signal is silent."""
    if not np.any(estimate) or not np.any(reference):
        return float("nan")
    return si_snr(estimate, reference)


def _reasons(names: list[str], ref: np.ndarray, est: np.ndarray, sample_rate: int) -> dict[str, dict[str, str]]:
    """{source: {metric: why it is NaN}} for silent stems and stems out of time with their references."""
    silent = [
        f"{role} of {name}"
        for j, name in enumerate(names)
        for role, x in (("reference", ref[j]), ("estimate", est[j]))
        if not np.any(x)
    ]
    reasons = {}
    for j, name in enumerate(names):
        why = {}
        if silent:
            why.update(
                dict.fromkeys(BSS_METRICS, f"museval scores no track with a digitally silent stem ({silent[0]})")
            )
        if not np.any(ref[j]) or not np.any(est[j]):
            why["si_sdr"] = f"the {'reference' if not np.any(ref[j]) else 'estimate'} is digitally silent"
        elif late := misalignment(est[j].T, ref[j].T, sample_rate):
            why = dict.fromkeys(MUSIC_METRICS, late)
        reasons[name] = why
    return reasons


def music_metrics(
    references: Mapping[str, np.ndarray], estimates: Mapping[str, np.ndarray], sample_rate: int
) -> list[dict]:
    """One row per source of one track: {"source", "sdr", "sir", "sar", "isr", "si_sdr",
    "reasons"}, the reasons naming each NaN metric and why ("sdr: ...; si_sdr: ...").

    references and estimates map the same source names to (time, channels) arrays of equal
    shape (museval's layout). BSSEval values are medians over 1 s frames.
    """
    import museval  # needs ffmpeg on PATH at import (through musdb and stempeg)

    names = list(references)
    if set(estimates) != set(names):
        raise ValueError(f"estimates name sources {sorted(estimates)}, references {sorted(names)}")
    ref = np.stack([np.asarray(references[n], dtype=np.float64) for n in names])
    est = np.stack([np.asarray(estimates[n], dtype=np.float64) for n in names])
    if ref.ndim != 3 or ref.shape != est.shape:
        raise ValueError(f"references {ref.shape} and estimates {est.shape} must both be (sources, time, channels)")
    silent = [not np.any(signal) for signal in (*ref, *est)]
    if any(silent):
        frames = {key: np.full((len(names), 1), np.nan) for key in BSS_METRICS}
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # log10 of 0 in frames museval scores as -inf
            sdr, isr, sir, sar = museval.evaluate(ref, est, win=sample_rate, hop=sample_rate, mode="v4")
        frames = {"sdr": sdr, "sir": sir, "sar": sar, "isr": isr}
    reasons = _reasons(names, ref, est, sample_rate)
    rows = []
    for j, name in enumerate(names):
        row = {key: _nanmedian(np.asarray(frames[key][j], dtype=np.float64)) for key in BSS_METRICS}
        row = {"source": name, **row, "si_sdr": si_sdr(est[j], ref[j])}
        row.update(dict.fromkeys(reasons[name], float("nan")))
        rows.append({**row, "reasons": "; ".join(f"{key}: {why}" for key, why in reasons[name].items())})
    return rows


def median_over_tracks(rows: Iterable[Mapping]) -> list[dict]:
    """Per-source medians over tracks of per-track rows (SiSEC's "median of medians").

    Tracks where a metric is NaN are left out of that metric's median; a source whose every
    track is NaN stays NaN. Sources keep their first-seen order.
    """
    table = pd.DataFrame(list(rows))
    order = list(dict.fromkeys(table["source"]))
    medians = table.groupby("source", sort=False)[list(MUSIC_METRICS)].median()
    counts = table.groupby("source", sort=False).size()
    return [
        {"source": s, "tracks": int(counts[s]), **{k: float(medians.loc[s, k]) for k in MUSIC_METRICS}} for s in order
    ]
