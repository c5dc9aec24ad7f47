"""`export_model`: a checkpoint to an export folder, checked against PyTorch before it is kept.

    OUT_DIR/export.json      what a host needs: rate, channels, sources, graphs, hop, latency,
                             the state's names, shapes and meanings, exporter, opset, parity
    OUT_DIR/offline.onnx     the whole model, dynamic batch and time axes
    OUT_DIR/stream_*.onnx    causal models: one hop with explicit state (and a first hop and a
                             flush block where the model needs them)
    OUT_DIR/weights.bin      the graphs' weights, each tensor once
    OUT_DIR/model_card.md, model_card.json

The folder is written under a temporary name and renamed once every graph matches PyTorch.
"""

from __future__ import annotations

import json
import logging
import os
from importlib.metadata import version
from pathlib import Path

import numpy as np
import torch

import sepflow
from sepflow.errors import SepflowError
from sepflow.export import parity
from sepflow.export.card import card_markdown, model_card
from sepflow.export.offline import dynamic_axes, offline_graph
from sepflow.export.onnx_graph import EXPORTER, OPSET, export_graph, require_exporter, save_graphs
from sepflow.export.runtime import MANIFEST, OnnxOffline, OnnxStreamer
from sepflow.export.stream_graphs import stream_graphs
from sepflow.files import atomic_folder, write_atomic
from sepflow.models import count_parameters
from sepflow.models.checkpoint import load_model
from sepflow.models.streaming import make_streamer, stream

logger = logging.getLogger(__name__)


def parity_signal(samples: int, channels: int, seed: int) -> torch.Tensor:
    """(channels, samples) noise at a speech-like level."""
    rng = np.random.default_rng(seed)
    return torch.from_numpy((0.1 * rng.standard_normal((channels, samples))).astype(np.float32))


def software(task: str) -> dict:
    """sepflow's version and commit and the task's metric packages, for the card."""
    from sepflow.report.provenance import git_commit, music_provenance

    if task == "music":
        metrics = music_provenance()
    else:
        from sepflow.metrics.speech import provenance

        metrics = provenance()
    return {"sepflow": f"{sepflow.__version__}, commit {git_commit()}", "metrics": metrics}


def _offline(model, ckpt) -> tuple[dict, dict]:
    """({"offline.onnx": proto} or {}, the export.json entry)."""
    try:
        module = offline_graph(model, len(ckpt["sources"]))
    except SepflowError as exc:
        logger.info(f"offline graph: none ({exc})")
        return {}, {"graph": None, "why": str(exc)}
    example = parity_signal(ckpt["sample_rate"] | 1, 2 * ckpt["channels"], 0).reshape(2, ckpt["channels"], -1)
    logger.info("offline graph: exporting")
    proto, bounds = export_graph(module, (example,), ["audio"], ["estimate"], dynamic_axes())
    if 2 not in bounds.get("audio", {}) or not proto.graph.input[0].type.tensor_type.shape.dim[2].dim_param:
        raise SepflowError(
            f"the exporter fixed {type(model).__name__}'s time axis to the traced length; "
            "name the model in sepflow.export.offline.NOT_EXPORTABLE with the reason"
        )
    entry = {
        "graph": "offline.onnx",
        "inputs": {"audio": ["batch", "channels", "time"]},
        "outputs": {"estimate": ["batch", "sources", "channels", "time"]},
        "min_length": max(1, bounds["audio"][2]),
    }
    return {"offline.onnx": proto}, entry


def _stream(model) -> tuple[dict, dict | None, str | None]:
    """({"stream_KIND.onnx": proto}, the export.json entry or None, why not)."""
    try:
        graphs = stream_graphs(model)
    except SepflowError as exc:
        logger.info(f"stream graphs: none ({exc})")
        return {}, None, str(exc)
    protos, names = {}, {}
    for kind in ("first", "hop", "flush"):
        if kind in graphs.modules:
            module, example = graphs.modules[kind]
            logger.info(f"stream graph {kind}: exporting")
            names[kind] = f"stream_{kind}.onnx"
            protos[names[kind]] = export_graph(module, example, graphs.input_names(kind), graphs.output_names())[0]
    entry = {
        "graphs": {kind: names.get(kind) for kind in ("first", "hop", "flush")},
        "hop": graphs.hop,
        "first_hop": graphs.first_hop,
        "latency": graphs.latency,
        "delay": graphs.delay,
        "flush_block": graphs.flush_block,
        "valid": graphs.valid,
        "states": [
            {
                "input": f"state_in_{i}",
                "output": f"state_out_{i}",
                "shape": list(s.shape),
                "dtype": s.dtype,
                "meaning": s.meaning,
            }
            for i, s in enumerate(graphs.states)
        ],
        "protocol": (
            "state starts at zeros, or from the first graph's outputs when there is one (it takes first_hop samples); "
            "each hop graph call takes hop samples; drop the first `delay` output samples; at the end, with P samples "
            "pending: no flush graph: zero-pad them to whole hops and run hops of zeros until the output is as long as "
            "the input; a flush graph: P <= flush_block: flush on them zero-padded to flush_block (valid = P), else a hop "
            "on them zero-padded (valid = P) and flush on zeros (valid = 0); a signal shorter than first_hop: offline graph"
        ),
    }
    return protos, entry, None


SHORTEST = 3
"""The offline graph is checked at each length from the exporter's lower bound up to this,
besides two long ones: the shortest length that matches PyTorch becomes its `min_length`
(the exporter's bound trusts branches a trace took at another length: Demucs's std of one
sample)."""


def _offline_parity(folder: Path, model, ckpt: dict) -> tuple[dict[str, dict[str, float]], int]:
    """Figures of the offline graph against the model, and the shortest length it matches at."""
    offline, channels, rate, figures = OnnxOffline(folder), ckpt["channels"], ckpt["sample_rate"], {}
    min_length = offline.min_length
    # Short lengths, then the traced length and another: a length baked into the graph shows.
    for samples in [*range(offline.min_length, SHORTEST + 1), rate | 1, round(1.37 * rate) | 1]:
        audio = parity_signal(samples, channels, 1)[None]
        numbers = parity.difference(offline(audio.numpy()), model(audio).reshape(1, -1, channels, samples).numpy())
        if samples > SHORTEST:
            figures[f"offline graph, {samples} samples"] = numbers
        elif not numbers["relative"] <= parity.TOLERANCE:
            min_length = samples + 1
    return figures, min_length


@torch.no_grad()
def check_parity(folder: Path, model, ckpt: dict) -> tuple[dict[str, dict[str, float]], int | None]:
    """Every graph of `folder` against PyTorch, and the offline graph's shortest input;
    refuse the export above parity.TOLERANCE."""
    info = json.loads((folder / MANIFEST).read_text())
    figures, min_length = _offline_parity(folder, model, ckpt) if info["offline"]["graph"] else ({}, None)
    if info["stream"]:
        ours, theirs = OnnxStreamer(folder), make_streamer(model)
        # A signal with whole hops, partial hops and a flush; after a reset, one shorter than any first hop.
        for samples in (round(1.37 * ckpt["sample_rate"]) | 1, 177):
            audio = parity_signal(samples, ckpt["channels"], 2)
            what = f"stream, {samples} samples hop by hop"
            figures[what] = parity.difference(
                stream(ours, audio, ours.hop).numpy(), stream(theirs, audio, ours.hop).numpy()
            )
    for what, numbers in figures.items():
        logger.info(parity.describe(what, numbers))
    for what, numbers in figures.items():
        parity.check(what, numbers, str(folder))
    return figures, min_length


def export_model(
    checkpoint: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    offline_only: bool = False,
    training: dict | None = None,
    scores: dict | None = None,
    licence: str | None = None,
) -> Path:
    """Export a checkpoint to `out_dir` (replaced whole): graphs, export.json and the model card.
    training, scores and licence go to the card (see card.model_card)."""
    require_exporter()
    model, ckpt = load_model(checkpoint)
    with torch.no_grad():  # a first eager run fills the models' caches (STFT windows) with real tensors
        model(parity_signal(ckpt["sample_rate"] // 10, ckpt["channels"], 0)[None])
    protos, offline = _offline(model, ckpt)
    stream, stream_why = None, "--offline-only"
    if not offline_only:
        more, stream, stream_why = _stream(model)
        protos.update(more)
    if not protos:
        raise SepflowError(f"nothing to export from {checkpoint}: {offline['why']}; {stream_why}")

    with atomic_folder(out_dir) as tmp:
        info = {
            "format": "sepflow export 1",
            "model": ckpt["model"],
            "model_args": ckpt["model_args"],
            "parameters": count_parameters(model),
            "sample_rate": ckpt["sample_rate"],
            "task": ckpt["task"],
            "sources": list(ckpt["sources"]),
            "channels": ckpt["channels"],
            "exporter": EXPORTER,
            "opset": OPSET,
            "onnxruntime": version("onnxruntime"),
            "offline": offline,
            "stream": stream,
            "stream_why": stream_why,
            "files": save_graphs(protos, tmp),
            "parity": {},
        }
        write_atomic(tmp / MANIFEST, json.dumps(info, indent=1) + "\n")
        info["parity"], min_length = check_parity(tmp, model, ckpt)
        info["parity_tolerance"] = parity.TOLERANCE
        if min_length:
            info["offline"]["min_length"] = min_length
        write_atomic(tmp / MANIFEST, json.dumps(info, indent=1) + "\n")
        card = model_card(
            ckpt, info, training=training, scores=scores, licence=licence, software=software(ckpt["task"])
        )
        write_atomic(tmp / "model_card.json", json.dumps(card, indent=1) + "\n")
        write_atomic(tmp / "model_card.md", card_markdown(card))
    logger.info(
        f"exported {checkpoint} to {out_dir}: {', '.join(f'{n} {b / 1e6:.2f} MB' for n, b in info['files'].items())}"
    )
    return Path(out_dir)
