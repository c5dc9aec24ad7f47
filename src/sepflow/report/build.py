"""The report stage: read every metrics.csv, write the tables, the figures and one HTML page.

Inputs are plain paths and dicts (the workflow script gathers them), so the report can be
rebuilt from a results folder without Snakemake:

- metrics_csvs: {(experiment, test set): per-item CSV}
- model_facts: {experiment: {"parameters", "rtf"}} of trained models
- histories: {experiment: train/history.csv}
- examples: {test set: Examples} (a few items' audio paths, for spectrograms and players)
- provenance: {test set: {what: how}} printed under each table
- inputs: {test set: experiment} whose rows are the unprocessed input (for the gain columns)
- composite: the definition of CSIG/CBAK/COVL the readable tables show ("cmgan" or "loizou")
- labels: {experiment: label} shown for the experiment in readable tables, figures and the
  page (the CSVs keep the experiment's name, the key scripts join on)
- tuning: {experiment: its search's outcome files} (sepflow.plan.layout.TUNE_FILES)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sepflow.audio import read_audio
from sepflow.errors import SepflowError
from sepflow.files import write_atomic
from sepflow.report.html import Section, render_page, wav_uri
from sepflow.report.plots import (
    plot_bars,
    plot_distributions,
    plot_gain_by_snr,
    plot_metrics,
    plot_spectrograms,
    plot_training,
)
from sepflow.report.tables import (
    by_testset,
    check_composite,
    readable_table,
    summarize,
    testset_slug,
    with_gains,
    write_tables,
)
from sepflow.report.tuning import tuning_section

logger = logging.getLogger(__name__)

PLOTTED = (
    "pesq_wb",
    "pesq_wb_gain",
    "pesq",
    "stoi",
    "stoi_gain",
    "si_snr_i",
    "estoi",
    "dnsmos_ovrl",
    "sdr",
    "si_sdr",
)
"""Metrics drawn in the figures (those a test set has values of); the tables show every metric."""
AUDIO_SECONDS = 4.0
"""Audio examples are cut to this length to keep the page small."""


@dataclass
class Examples:
    """A few items of one test set: sample rate, sources, and per item its mixture and
    references ({source: path}) and each experiment's estimates ({experiment: {source: path}})."""

    sample_rate: int
    sources: list[str]
    items: list[dict]


def _read_frames(metrics_csvs: dict[tuple[str, str], str | Path]) -> dict[tuple[str, str], pd.DataFrame]:
    frames = {}
    for key, path in metrics_csvs.items():
        try:
            frames[key] = pd.read_csv(path)
        except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise SepflowError(f"cannot read {path}: {exc}; rerun its evaluate rule.") from None
    return frames


def with_model_facts(summary: pd.DataFrame, facts: dict[str, dict[str, float]]) -> pd.DataFrame:
    """Parameters and real-time factor after the item count (empty for baselines)."""
    summary = summary.copy()
    at = summary.columns.get_loc("n") + 1
    for offset, column in enumerate(("parameters", "rtf")):
        values = summary["experiment"].map(lambda e: facts.get(e, {}).get(column, np.nan))
        summary.insert(at + offset, column, values.astype("Int64") if column == "parameters" else values)
    return summary


def _label_of(labels: dict[str, str] | None, experiments) -> dict[str, str]:
    """{experiment: what the report calls it}; two experiments with one label would merge in the figures."""
    named = {experiment: (labels or {}).get(experiment, experiment) for experiment in experiments}
    seen: dict[str, str] = {}
    for experiment, label in named.items():
        if seen.setdefault(label, experiment) != experiment:
            raise SepflowError(
                f"experiments {seen[label]} and {experiment} have the same label {label!r}; give each its own `label:`."
            )
    return named


def _signals(
    mixture: np.ndarray, item: dict, source: str, experiments: dict[str, str], sample_rate: int
) -> list[tuple[str, np.ndarray]]:
    """(name, (channels, samples)) for the mixture, reference and each experiment ({experiment:
    label}), cut to one length."""
    named = [
        (f"reference ({source})", item["references"][source]),
        *[(label, item["estimates"][experiment][source]) for experiment, label in experiments.items()],
    ]
    audio = [("mixture", mixture)] + [(name, read_audio(path, expected_sr=sample_rate)[0]) for name, path in named]
    n = min(a.shape[-1] for _, a in audio)
    return [(name, a[:, :n]) for name, a in audio]


def _example_panels(examples: Examples, experiments: dict[str, str], out: Path) -> tuple[Path, list]:
    """The spectrogram grid (every source of each item) and audio players (first source)."""
    rows, players = [], []
    for item in examples.items:
        mixture = read_audio(item["mixture"], expected_sr=examples.sample_rate)[0]  # once for all its sources
        for s, source in enumerate(examples.sources):
            signals = _signals(mixture, item, source, experiments, examples.sample_rate)
            label = item["id"] if len(examples.sources) == 1 else f"{item['id']} {source}"
            rows.append((label, signals))
            if s == 0:
                clip = round(AUDIO_SECONDS * examples.sample_rate)
                players.append((label, [(name, wav_uri(a[:, :clip], examples.sample_rate)) for name, a in signals]))
    return plot_spectrograms(rows, examples.sample_rate, out), players


def build_report(
    metrics_csvs: dict[tuple[str, str], str | Path],
    out_dir: str | Path,
    *,
    model_facts: dict[str, dict[str, float]] | None = None,
    histories: dict[str, str | Path] | None = None,
    examples: dict[str, Examples] | None = None,
    provenance: dict[str, dict[str, str]] | None = None,
    run: dict[str, str] | None = None,
    inputs: dict[str, str] | None = None,
    composite: str = "cmgan",
    labels: dict[str, str] | None = None,
    tuning: dict[str, dict[str, str]] | None = None,
) -> pd.DataFrame:
    """Write summary.csv/.md, tables/, plots/, metrics.png and index.html; return the summary."""
    out_dir, inputs = Path(out_dir), inputs or {}
    check_composite(composite)
    frames = with_gains(_read_frames(metrics_csvs), inputs)
    label = _label_of(labels, [experiment for experiment, _ in frames])
    summary = with_model_facts(summarize(frames), model_facts or {})
    write_tables(summary, out_dir, composite, label)
    plot_metrics(
        {(label[e], t): f for (e, t), f in frames.items()},
        out_dir / "metrics.png",
        [m for m in PLOTTED if any(m in f for f in frames.values())][:3] or ("si_snr_i",),
    )

    sections = []
    for testset, part in by_testset(summary):
        slug = testset_slug(testset)
        metrics = [m for m in PLOTTED if f"{m}_mean" in part and part[f"{m}_mean"].notna().any()]
        table, note = readable_table(part, composite, label)
        section = Section(testset, table, note, (provenance or {}).get(testset, {}))
        per_item = {label[e]: f for (e, t), f in frames.items() if t == testset}
        if metrics:
            labelled = part.assign(experiment=part["experiment"].map(label))
            bars = plot_bars(labelled, metrics, out_dir / "plots" / f"bars_{slug}.png")
            section.figures.append(("Mean and 95% confidence interval", bars))
            items = plot_distributions(per_item, metrics, out_dir / "plots" / f"items_{slug}.png")
            section.figures.append(("Per-item distributions", items))
        unprocessed = label.get(inputs.get(testset))
        if any("si_snr_input" in f and f["si_snr_input"].notna().any() for f in per_item.values()):
            figure = plot_gain_by_snr(per_item, out_dir / "plots" / f"gain_by_snr_{slug}.png", unprocessed)
            section.figures.append(
                ("Gain over the input by the input's SI-SNR (points: items; lines: bin means)", figure)
            )
        if examples and testset in examples:
            experiments = {e: label[e] for e in dict.fromkeys(part["experiment"])}
            panel, section.audio = _example_panels(
                examples[testset], experiments, out_dir / "plots" / f"spectrograms_{slug}.png"
            )
            section.figures.append(("Spectrograms: mixture, reference and each experiment", panel))
        sections.append(section)
    sections += [tuning_section(experiment, files) for experiment, files in (tuning or {}).items()]

    extra = []
    curves = {label.get(e, e): pd.read_csv(p) for e, p in (histories or {}).items() if Path(p).is_file()}
    curves = {e: h for e, h in curves.items() if len(h)}
    if curves:
        extra.append(("Training curves", plot_training(curves, out_dir / "plots" / "training.png")))
    write_atomic(out_dir / "index.html", render_page(sections, run or {}, extra))
    logger.info("%s", (out_dir / "summary.md").read_text())
    return summary
