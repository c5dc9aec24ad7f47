"""`sepflow evaluate`: score a folder of estimates against references, the pipeline's table."""

from __future__ import annotations

import argparse
from pathlib import Path

from sepflow.cli.inputs import audio_files
from sepflow.data.resampling import AUDIO_SUFFIXES
from sepflow.errors import SepflowError


def _evaluation_items(args: argparse.Namespace) -> tuple[list[dict], str, int]:
    """Items pairing each reference with the estimate of the same name (and its mixture)."""
    from sepflow.audio.io import audio_info
    from sepflow.data.manifest import read_manifest
    from sepflow.metrics.evaluate import manifest_items

    estimates = Path(args.estimates)
    if not estimates.is_dir():
        raise SepflowError(f"estimates folder not found: {estimates}")
    if args.manifest:
        manifest = read_manifest(args.manifest)
        return manifest_items(manifest, estimates), manifest.task, manifest.sample_rate
    if not args.references:
        raise SepflowError("give a REFERENCES folder or --manifest.")
    references = Path(args.references)
    if not references.is_dir():
        raise SepflowError(f"references folder not found: {references}")
    files = audio_files(references)
    if not files:
        raise SepflowError(f"no .wav or .flac files under {references}.")

    def partner(folder: Path, relative: Path, role: str) -> str:
        for suffix in AUDIO_SUFFIXES:
            if (candidate := folder / relative.with_suffix(suffix)).is_file():
                return str(candidate)
        raise SepflowError(
            f"no {role} for {references / relative}: expected {folder / relative.with_suffix('.wav')} "
            "(file names must match the references')."
        )

    items = []
    for file in files:
        relative = file.relative_to(references)
        mixture = partner(Path(args.mixtures), relative, "mixture") if args.mixtures else str(file)
        items.append(
            {
                "id": str(relative.with_suffix("")),
                "mixture": mixture,
                "references": {"speech": str(file)},
                "estimates": {"speech": partner(estimates, relative, "estimate")},
            }
        )
    return items, "speech", audio_info(files[0]).sample_rate


MIXTURE_COLUMNS = ("si_snr_input", "si_snr_i")
"""Columns that compare with the unprocessed input: left out when no mixtures are given."""


def evaluate(args: argparse.Namespace) -> None:
    from sepflow.metrics.evaluate import evaluate_items, write_metrics_csv
    from sepflow.report.tables import report_markdown, summarize

    items, task, rate = _evaluation_items(args)
    frame = evaluate_items(items, task, rate, workers=args.workers)
    if task == "speech" and not args.mixtures and not args.manifest:
        frame = frame.drop(columns=[c for c in MIXTURE_COLUMNS if c in frame])
    if args.csv:
        write_metrics_csv(frame, args.csv)
    testset = Path(args.manifest).stem if args.manifest else Path(args.references).name
    print(report_markdown(summarize({(Path(args.estimates).name, testset): frame}), args.composite))
    for line in _not_measured(frame):
        print(line)


def _not_measured(frame) -> list[str]:
    """Why the table's NaN cells are NaN: per item, the metrics that share a reason (a silent
    estimate, one late or early against its reference, an item too short for a metric)."""
    lines = []
    for row in frame.to_dict("records"):
        by_reason: dict[str, list[str]] = {}
        for part in filter(None, str(row.get("reasons") or "").split("; ")):
            metric, _, why = part.partition(": ")
            by_reason.setdefault(why, []).append(metric)
        label = row["id"] + (f" {row['source']}" if "source" in row else "")
        lines += [f"not measured, {label}: {', '.join(metrics)}: {why}" for why, metrics in by_reason.items()]
    return lines
