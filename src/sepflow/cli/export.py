"""`sepflow export`: a trained checkpoint to ONNX graphs and a model card; and the separator
`sepflow enhance` runs when its CHECKPOINT is such an export folder."""

from __future__ import annotations

import argparse
from collections.abc import Callable

import numpy as np

from sepflow.errors import SepflowError


def export(args: argparse.Namespace) -> None:
    from sepflow.export import export_model
    from sepflow.export.results import results_provenance

    training, scores = results_provenance(args.checkpoint)
    export_model(
        args.checkpoint,
        args.out_dir,
        offline_only=args.offline_only,
        training=training,
        scores=scores,
        licence=args.licence,
    )


def wants_export(args: argparse.Namespace) -> bool:
    """Whether `sepflow enhance` was given an export folder (or --onnx) rather than a model.pt."""
    from sepflow.export import is_export

    return args.onnx or is_export(args.checkpoint)


def export_separator(args: argparse.Namespace) -> tuple[Callable[[np.ndarray], np.ndarray], int, list[str]]:
    """(separator, its sample rate, its sources) for `sepflow enhance` on an export folder:
    the stream graphs on one thread with --stream, else the offline graph in chunks."""
    from sepflow.export import load_onnx_separator, read_export

    if args.device == "cuda":
        raise SepflowError("an export runs on onnxruntime's CPU provider; drop --device cuda")
    info = read_export(args.checkpoint)
    chunk = max(1, round(args.stream_chunk_ms * info["sample_rate"] / 1000))
    process = load_onnx_separator(
        args.checkpoint,
        streaming=args.stream,
        channel_mode=args.channels,
        chunk_seconds=args.chunk_seconds,
        overlap_seconds=args.overlap_seconds,
        stream_chunk=chunk,
        threads=1 if args.stream else 0,  # 0: onnxruntime's default, a thread per core
    )
    return process, process.sample_rate, process.sources
