"""The report's figures: per-item metric distributions, metric bars with intervals, gains
by input SNR, training curves and spectrogram panels.

Boxes show spread, not only means, so a model that helps most items but ruins a few is
visible; gains against the input's SI-SNR show whether it helps noisy input and harms clean
input. Figures are drawn with the Agg canvas directly (no pyplot state, no display).
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from scipy import signal

from sepflow.files import write_atomic
from sepflow.report.tables import LABELS


def _draw_metric(
    ax, frames: dict[tuple[str, str], pd.DataFrame], metric: str, experiments: list[str], testsets: list[str]
) -> None:
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
                values,
                positions=[position],
                widths=0.85 * width,
                patch_artist=True,
                manage_ticks=False,
                medianprops={"color": "black"},
                flierprops={"markersize": 3},
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

    fig = Figure(
        figsize=(max(6.0, 1.0 + 0.9 * len(experiments) * len(testsets)), 0.8 + 3.0 * len(metrics)), layout="constrained"
    )
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


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: str | os.PathLike) -> Path:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    return write_atomic(path, buffer.getvalue())


def plot_bars(summary: pd.DataFrame, metrics: Sequence[str], path: str | os.PathLike) -> Path:
    """One panel per metric of one test set: a bar per experiment (grouped by source for
    music) at the mean, with the 95% confidence interval of the mean as the error bar."""
    experiments = list(dict.fromkeys(summary["experiment"]))
    sources = list(dict.fromkeys(summary["source"])) if "source" in summary else [None]
    colours = matplotlib.colormaps["tab10"]
    width = 0.8 / len(experiments)
    fig = _figure(
        max(5.0, 1.5 + 0.5 * len(experiments) * len(sources)) * min(len(metrics), 3), 3.2 * -(-len(metrics) // 3)
    )
    axes = fig.subplots(-(-len(metrics) // 3), min(len(metrics), 3), squeeze=False).ravel()
    for ax, metric in zip(axes, metrics):
        for e, experiment in enumerate(experiments):
            rows = summary[summary["experiment"] == experiment]
            for s, source in enumerate(sources):
                row = rows if source is None else rows[rows["source"] == source]
                if row.empty:
                    continue
                mean, ci = row[f"{metric}_mean"].iloc[0], row[f"{metric}_ci95"].iloc[0]
                ax.bar(
                    s + (e - (len(experiments) - 1) / 2) * width,
                    mean,
                    width * 0.9,
                    yerr=None if pd.isna(ci) else ci,
                    capsize=3,
                    color=colours(e % colours.N),
                    label=experiment if s == 0 else None,
                )
        ax.set_title(LABELS.get(metric, metric), fontsize="medium")
        ax.set_xticks(range(len(sources)), [s or "" for s in sources])
        ax.grid(axis="y", alpha=0.3)
    for ax in axes[len(metrics) :]:
        ax.set_visible(False)
    handles = [Patch(facecolor=colours(e % colours.N), label=name) for e, name in enumerate(experiments)]
    fig.legend(handles=handles, loc="outside upper center", ncols=min(len(experiments), 6), frameon=False)
    return _save(fig, path)


def plot_distributions(frames: dict[str, pd.DataFrame], metrics: Sequence[str], path: str | os.PathLike) -> Path:
    """Per-item distributions of one test set: a box per experiment (per source for music)."""
    keyed = {}
    for experiment, frame in frames.items():
        for source, part in frame.groupby("source", sort=False) if "source" in frame else [("", frame)]:
            keyed[(experiment, source)] = part
    return plot_metrics(keyed, path, metrics)


GAIN_PANELS = ("si_snr_i", "pesq_wb_gain")
"""The gains drawn against the input's SI-SNR (`si_snr_input`), those the frames have."""
GAIN_BINS = 5
"""Equal-count bins of input SI-SNR whose mean gains the lines join (fewer when items are few)."""


def gain_by_snr_figure(frames: dict[str, pd.DataFrame], leave_out: str | None = None) -> Figure:
    """One panel per gain in GAIN_PANELS: each experiment's items as faint points against
    their input SI-SNR, and a line through its mean gain in each bin of input SI-SNR. The
    `leave_out` experiment (the unprocessed input: its gains are zero) is not drawn but keeps
    its colour, so every experiment has the colour it has in the other figures.

    The bins are shared (the items are the same in every frame of a test set) and hold equal
    numbers of items, so no bin is empty; a line's point sits at the mean input SI-SNR of
    its bin's items. Frames without `si_snr_input` or a gain are left out of that panel.
    """
    panels = [g for g in GAIN_PANELS if any({g, "si_snr_input"} <= set(f) for f in frames.values())]
    if not panels:
        raise ValueError("no per-item table has an input SI-SNR and a gain")
    inputs = np.concatenate([f["si_snr_input"].dropna().to_numpy() for f in frames.values() if "si_snr_input" in f])
    if inputs.size == 0:
        raise ValueError("no item has an input SI-SNR")
    count = max(1, min(GAIN_BINS, len(np.unique(inputs)) // 4))
    edges = np.quantile(inputs, np.linspace(0.0, 1.0, count + 1))
    colours = matplotlib.colormaps["tab10"]
    fig = _figure(5.2 * len(panels), 3.8)
    for ax, gain in zip(fig.subplots(1, len(panels), squeeze=False)[0], panels):
        for e, (experiment, frame) in enumerate(frames.items()):
            if experiment == leave_out or not {gain, "si_snr_input"} <= set(frame):
                continue
            items = frame[["si_snr_input", gain]].dropna()
            colour = colours(e % colours.N)
            ax.scatter(items["si_snr_input"], items[gain], s=9, alpha=0.3, color=colour, linewidths=0)
            which = np.clip(np.searchsorted(edges, items["si_snr_input"], side="right") - 1, 0, count - 1)
            means = items.groupby(which).mean()
            ax.plot(means["si_snr_input"], means[gain], color=colour, marker="o", label=experiment)
        ax.axhline(0.0, color="0.4", linewidth=0.8)
        ax.set(xlabel=LABELS["si_snr_input"], ylabel=LABELS.get(gain, gain), title=LABELS.get(gain, gain))
        ax.grid(alpha=0.3)
    handles = {}
    for ax in fig.axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, handle)
    fig.legend(handles=list(handles.values()), loc="outside upper center", ncols=min(len(handles), 5), frameon=False)
    return fig


def plot_gain_by_snr(frames: dict[str, pd.DataFrame], path: str | os.PathLike, leave_out: str | None = None) -> Path:
    """Save `gain_by_snr_figure` of one test set's experiments ({experiment: per-item frame}) as a PNG."""
    return _save(gain_by_snr_figure(frames, leave_out), path)


VALIDATION_PANELS = {
    "valid_si_snr": ("validation SI-SNR", "dB"),
    "valid_pesq": ("validation PESQ (wide-band)", "MOS-LQO"),
}
"""Titles and units of the history's validation columns drawn in panels of their own."""


def plot_training(histories: dict[str, pd.DataFrame], path: str | os.PathLike) -> Path:
    """Every trained experiment's curves: training loss (solid) and validation loss (dashed,
    for steps that validate with a loss), then a panel per other validation column a history
    has (SI-SNR, and PESQ for steps that validate with it)."""
    measures = list(
        dict.fromkeys(
            column
            for history in histories.values()
            for column in history.columns
            if column.startswith("valid_") and column != "valid_loss"
        )
    )
    fig = _figure(5.5 * (1 + len(measures)), 3.6)
    loss_ax, *measure_axes = fig.subplots(1, 1 + len(measures))
    colours = matplotlib.colormaps["tab10"]
    for e, (experiment, history) in enumerate(histories.items()):
        colour = colours(e % colours.N)
        loss_ax.plot(history["step"], history["train_loss"], color=colour, marker=".", label=f"{experiment} train")
        if "valid_loss" in history:
            loss_ax.plot(
                history["step"],
                history["valid_loss"],
                color=colour,
                linestyle="--",
                marker=".",
                label=f"{experiment} valid",
            )
        for ax, column in zip(measure_axes, measures):
            if column in history:
                ax.plot(history["step"], history[column], color=colour, marker=".", label=experiment)
    loss_ax.set(xlabel="step", ylabel="loss", title="loss (solid: training, dashed: validation)")
    for ax, column in zip(measure_axes, measures):
        title, unit = VALIDATION_PANELS.get(column, (column, ""))
        ax.set(xlabel="step", ylabel=unit, title=title)
    for ax in (loss_ax, *measure_axes):
        ax.grid(alpha=0.3)
    (measure_axes or [loss_ax])[-1].legend(fontsize="small")
    return _save(fig, path)


def _spectrogram_db(audio: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    freqs, times, power = signal.spectrogram(audio.mean(0), fs=sample_rate, nperseg=512, noverlap=384)
    return freqs, times, 10 * np.log10(power + 1e-12)


def _cell_edges(centres: np.ndarray) -> list[float]:
    """The outer edges of evenly spaced cells around `centres` (what pcolormesh's "auto"
    shading draws): an image drawn there costs a fraction of a mesh of quads."""
    half = (centres[1] - centres[0]) / 2 if len(centres) > 1 else 0.5
    return [float(centres[0] - half), float(centres[-1] + half)]


def plot_spectrograms(
    rows: list[tuple[str, list[tuple[str, np.ndarray]]]], sample_rate: int, path: str | os.PathLike
) -> Path:
    """A grid of spectrograms: one row per (item, source) label, one column per signal
    (mixture, reference, each experiment's estimate); 80 dB range below each row's peak."""
    columns = len(rows[0][1])
    fig = _figure(2.6 * columns + 0.5, 2.2 * len(rows))
    axes = fig.subplots(len(rows), columns, squeeze=False, sharey=True)
    for r, (label, signals) in enumerate(rows):
        specs = [(name, *_spectrogram_db(audio, sample_rate)) for name, audio in signals]
        top = max(db.max() for *_, db in specs)
        for c, (name, freqs, times, db) in enumerate(specs):
            ax = axes[r, c]
            image = ax.imshow(
                db,
                origin="lower",
                aspect="auto",
                interpolation="nearest",
                extent=_cell_edges(times) + _cell_edges(freqs / 1000),
                vmin=top - 80,
                vmax=top,
                cmap="magma",
            )
            ax.set_title(f"{name}" if r else name, fontsize="small")
            if c == 0:
                ax.set_ylabel(f"{label}\nkHz", fontsize="small")
            if r == len(rows) - 1:
                ax.set_xlabel("s", fontsize="small")
    fig.colorbar(image, ax=axes, label="dB", shrink=0.8)
    return _save(fig, path)
