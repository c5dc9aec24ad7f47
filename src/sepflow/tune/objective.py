"""What a study optimises: a validation metric of the task, measured at every validation of a
trial's training (the pruner compares trials there) on the items the loop validates on.

The validation loss and SI-SNR come from the loop's own validation row; PESQ, STOI and the
music measures are computed from the model's estimates of the same whole validation items, with
the evaluation's metric functions, and averaged over the items they can be measured on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from sepflow.errors import SepflowError
from sepflow.models import as_sources

ItemScore = Callable[[np.ndarray, np.ndarray, int], float]
"""(references (sources, channels, T), estimates (same), sample rate) -> one item's value."""


def _per_channel(name: str, **options) -> ItemScore:
    """A speech metric of the one source (a function of sepflow.metrics.speech), each channel
    scored and the channels averaged."""

    def item(references: np.ndarray, estimates: np.ndarray, sample_rate: int) -> float:
        from sepflow.metrics import speech

        score = getattr(speech, name)
        return float(np.mean([score(r, e, sample_rate, **options) for r, e in zip(references[0], estimates[0])]))

    return item


def _music(column: str) -> ItemScore:
    """A music metric: museval's per-source row, averaged over the sources."""

    def item(references: np.ndarray, estimates: np.ndarray, sample_rate: int) -> float:
        from sepflow.metrics.music import music_metrics
        from sepflow.metrics.speech import Unmeasurable

        names = [str(k) for k in range(len(references))]
        rows = music_metrics(
            {n: r.T for n, r in zip(names, references)}, {n: e.T for n, e in zip(names, estimates)}, sample_rate
        )
        values = [row[column] for row in rows if np.isfinite(row[column])]
        if not values:
            raise Unmeasurable(f"{column} is undefined for every source (a silent reference or estimate)")
        return float(np.mean(values))

    return item


@dataclass(frozen=True)
class Objective:
    name: str
    direction: str
    tasks: tuple[str, ...]
    row_key: str | None = None
    """Taken from the loop's validation row; otherwise measured on estimates with `item`."""
    item: ItemScore | None = None


OBJECTIVES = {
    o.name: o
    for o in (
        Objective("valid_loss", "minimize", ("speech", "music"), row_key="valid_loss"),
        Objective("si_snr", "maximize", ("speech", "music"), row_key="valid_si_snr"),
        Objective("pesq_wb", "maximize", ("speech",), item=_per_channel("pesq", mode="wb")),
        Objective("pesq_nb", "maximize", ("speech",), item=_per_channel("pesq", mode="nb")),
        Objective("stoi", "maximize", ("speech",), item=_per_channel("stoi")),
        Objective("estoi", "maximize", ("speech",), item=_per_channel("stoi", extended=True)),
        Objective("sdr", "maximize", ("music",), item=_music("sdr")),
        Objective("si_sdr", "maximize", ("music",), item=_music("si_sdr")),
    )
}


def objective_for(metric: str, task: str, where: str) -> Objective:
    """The named objective if `task` has it; one SepflowError naming `where` otherwise."""
    choices = [name for name, o in OBJECTIVES.items() if task in o.tasks]
    if metric not in choices:
        raise SepflowError(f"{where}: {metric!r} is not a validation metric of {task}; choose one of {choices}")
    return OBJECTIVES[metric]


@dataclass(frozen=True)
class Measured:
    value: float
    """The mean over measurable items, NaN when none is."""
    unmeasured: str = ""
    """How many items had no value and the first reason, empty when all did."""


@torch.no_grad()
def measure(objective: Objective, row: dict, model: torch.nn.Module, valid, items: int, sample_rate: int) -> Measured:
    """The objective after one validation: from its row, or from the model's estimates of the
    first `items` validation items (the loop's share), averaged over those it can be scored on."""
    if objective.row_key is not None:
        return Measured(float(row[objective.row_key]))
    from sepflow.metrics.speech import Unmeasurable  # music's item functions raise it too

    model.eval()
    device = next(model.parameters()).device
    values, reasons = [], []
    for i in range(items):
        mixture, targets = valid[i]
        estimate = as_sources(model(mixture[None].to(device)), targets.shape[0]).float()[0].cpu().numpy()
        try:
            values.append(objective.item(targets.numpy(), estimate, sample_rate))
        except Unmeasurable as reason:
            reasons.append(str(reason))
    if not values:
        return Measured(float("nan"), f"no validation item could be scored ({reasons[0]})")
    unmeasured = f"{len(reasons)} of {items} items not scored ({reasons[0]})" if reasons else ""
    return Measured(float(np.mean(values)), unmeasured)
