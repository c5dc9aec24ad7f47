"""The report figure: per-item metric distributions, one box per experiment and test set.

Boxes show spread, not only means, so a model that helps most items but ruins a few is
visible. The figure is drawn with the Agg canvas directly (no pyplot state, no display).
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path

import matplotlib
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from sepflow.files import write_atomic
from sepflow.report.tables import LABELS


def _draw_metric(ax, frames: dict[tuple[str, str], pd.DataFrame], metric: str, experiments: list[str], testsets: list[str]) -> None:
    """Boxes grouped by test set, one colour per experiment; failed (NaN) items are counted in the title."""
    colours = matplotlib.colormaps["tab10"]
    width = 0.8 / len(experiments)
    failed = 0
    for e, experiment in enumerate(experiments):
        for t, testset in enumerate(testsets):
            frame = frames.get((experiment, testset))
            if frame is None or metric not in frame:
                continue
            values = frame[metric].dropna().to_numpy()
            failed += len(frame) - values.size
            if values.size == 0:
                continue
            position = t + (e - (len(experiments) - 1) / 2) * width
            boxes = ax.boxplot(
                values, positions=[position], widths=0.85 * width, patch_artist=True, manage_ticks=False,
                medianprops={"color": "black"}, flierprops={"markersize": 3},
            )
            boxes["boxes"][0].set_facecolor(colours(e % colours.N))
    label = LABELS.get(metric, metric)
    ax.set_ylabel(label)
    if failed:
        ax.set_title(f"{label}: items without a score (not shown): {failed}", fontsize="small")
    ax.grid(axis="y", alpha=0.3)


def plot_metrics(
    frames: dict[tuple[str, str], pd.DataFrame],
    path: str | os.PathLike,
    metrics: Sequence[str] = ("si_snr_i", "pesq"),
) -> Path:
    """Save box plots of `metrics` (one panel each) per experiment per test set as a PNG.

    Metrics that no frame has are left out, and so are frames with none of the metrics
    (music experiments have no PESQ); it is an error when no metric is left.
    """
    metrics = [m for m in metrics if any(m in frame for frame in frames.values())]
    if not metrics:
        raise ValueError("none of the requested metrics is in the per-item tables")
    frames = {key: frame for key, frame in frames.items() if any(m in frame for m in metrics)}
    experiments = list(dict.fromkeys(experiment for experiment, _ in frames))
    testsets = list(dict.fromkeys(testset for _, testset in frames))

    fig = Figure(figsize=(max(6.0, 1.0 + 0.9 * len(experiments) * len(testsets)), 0.8 + 3.0 * len(metrics)), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(metrics), 1, sharex=True, squeeze=False)[:, 0]
    for ax, metric in zip(axes, metrics):
        _draw_metric(ax, frames, metric, experiments, testsets)
    axes[-1].set_xticks(range(len(testsets)), testsets)
    axes[-1].set_xlim(-0.5, len(testsets) - 0.5)
    colours = matplotlib.colormaps["tab10"]
    handles = [Patch(facecolor=colours(e % colours.N), label=name) for e, name in enumerate(experiments)]
    fig.legend(handles=handles, loc="outside upper center", ncols=min(len(experiments), 5), frameon=False)

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=150)
    return write_atomic(path, buffer.getvalue())
