"""Validation: the step's criterion and SI-SNR (dB, averaged over sources) of whole
validation items, with the items dealt round-robin to the ranks.

Each rank scores its share once, and all gather every item's scores in item order, so every
rank returns the same means as one process would (same values summed in the same order).
A criterion that leaves unscorable items out (PESQ of a silent estimate) averages the
others and reports how many it left out; one that cannot (a loss) returns NaN, which the
loop reports as divergence.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from sepflow.losses.metrics import batch_si_snr


@dataclass(frozen=True)
class Scores:
    value: float  # the criterion's mean over the scored items
    si_snr: float  # dB, the mean over items of the mean over sources
    unscored: int  # items the criterion could not score (NaN), left out of `value`


@torch.no_grad()
def score_items(step, model, dataset, items, device, interrupted: Callable[[], bool] | None = None) -> list:
    """(criterion, SI-SNR) of each whole validation item in `items`; raises KeyboardInterrupt
    before the next item once `interrupted()` is true."""
    model.eval()
    scores = []
    for i in items:
        if interrupted is not None and interrupted():
            raise KeyboardInterrupt("validation interrupted")
        mixture, targets = (x[None].to(device) for x in dataset[i])
        estimate = step.estimate(model, mixture, targets.shape[1])
        scores.append(
            (
                step.score(estimate, targets),
                batch_si_snr(estimate.transpose(0, 1), targets.transpose(0, 1)).mean().item(),
            )
        )
    return scores


def _means(scores: list[tuple[float, float]], criterion) -> Scores:
    kept = scores if criterion.nan_is_divergence else [s for s in scores if not math.isnan(s[0])]
    value = sum(s[0] for s in kept) / len(kept) if kept else math.nan
    return Scores(value, sum(s[1] for s in scores) / len(scores), len(scores) - len(kept))


def validate(step, model, dataset, limit: int, accelerator, interrupted: Callable[[], bool] | None = None) -> Scores:
    """The means over the first `limit` validation items (0: all), the same on every rank."""
    n, world, rank = min(limit or len(dataset), len(dataset)), accelerator.num_processes, accelerator.process_index
    per = -(-n // world)
    mine = score_items(step, model, dataset, range(rank, n, world), accelerator.device, interrupted)
    padded = torch.full((per, 2), math.nan, dtype=torch.float64, device=accelerator.device)
    padded[: len(mine)] = torch.tensor(mine, dtype=torch.float64).reshape(-1, 2)
    gathered = accelerator.gather(padded).reshape(world, per, 2).transpose(0, 1).reshape(-1, 2)[:n]
    return _means([tuple(row) for row in gathered.tolist()], step.criterion)
