"""Streaming cost per hop at one thread: the ONNX stream graphs in onnxruntime beside
sepflow's PyTorch streamers, measured side by side in one run, with each export's size.

    python benchmarks/export.py [--seconds 10] [--repeats 3]

Each row feeds one hop per call (after the first hop, which is not timed) and reports the
median and 90th percentile per hop and the real-time factor (compute time / audio time).
Any per-hop callable joins the table through `hop_row` (the peers' RNNoise and
DeepFilterNet3 rows plug in there).
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from tabulate import tabulate

from sepflow.export import OnnxStreamer, export_model, read_export
from sepflow.models import build_model, count_parameters
from sepflow.models.checkpoint import atomic_save, model_checkpoint
from sepflow.models.streaming import make_streamer

RATE = 16000
MODELS = {
    "tcm_unet reference": ("tcm_unet", {}),
    "tcm_unet demo": ("tcm_unet", {"tcm_channels": 128, "tcm_hidden": 32}),
    "demucs demo causal": ("demucs", {"hidden": 16, "depth": 4, "resample": 2, "causal": True}),
    "demucs dns48 causal": ("demucs", {"hidden": 48, "causal": True}),
}


class _Speech:
    sample_rate, task, sources, channels = RATE, "speech", ("speech",), 1


def hop_times(process: Callable[[np.ndarray], object], audio: np.ndarray, first: int, hop: int) -> list[float]:
    """Seconds per call of `process` on each hop of (channels, T) `audio` after the first
    `first` samples (one untimed call: warm-up, and a stream's longer first hop)."""
    process(audio[:, :first])
    times = []
    for start in range(first, audio.shape[1] - hop + 1, hop):
        block = audio[:, start : start + hop]
        begin = time.perf_counter()
        process(block)
        times.append(time.perf_counter() - begin)
    return times


def hop_row(label: str, runtime: str, times: list[float], hop: int, rate: int, **facts) -> dict:
    """One table row from per-hop times of any streaming system."""
    per_hop = 1000 * np.asarray(times)
    return {
        "model": label,
        "runtime": runtime,
        **facts,
        "hop (ms)": f"{1000 * hop / rate:g}",
        "median ms/hop": f"{np.median(per_hop):.3f}",
        "p90 ms/hop": f"{np.percentile(per_hop, 90):.3f}",
        "RTF": f"{per_hop.mean() / (1000 * hop / rate):.3f}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="audio streamed per repeat")
    parser.add_argument("--repeats", type=int, default=3, help="alternating ONNX / PyTorch passes per model")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    audio = (0.1 * rng.standard_normal((1, round(args.seconds * RATE)))).astype(np.float32)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, (name, model_args) in MODELS.items():
            torch.manual_seed(0)
            model = build_model(name, **model_args).eval()
            checkpoint = atomic_save(model_checkpoint(name, model_args, _Speech, model), Path(tmp) / f"{name}.pt")
            folder = export_model(checkpoint, Path(tmp) / label.replace(" ", "_"))
            files = read_export(folder)["files"]
            stream_mb = sum(size for file, size in files.items() if file.startswith("stream_")) / 1e6
            facts = {
                "params (M)": f"{count_parameters(model) / 1e6:.2f}",
                "graphs (MB)": f"{stream_mb:.2f} + weights {files['weights.bin'] / 1e6:.2f}",
            }
            ours, theirs = OnnxStreamer(folder, threads=1), make_streamer(model)
            first = getattr(theirs, "first_hop", theirs.hop)
            onnx_times, torch_times = [], []
            for _ in range(args.repeats):  # alternate, so load on a shared machine falls on both alike
                onnx_times += hop_times(ours.feed, audio, first, ours.hop)
                ours.reset()
                torch_times += hop_times(lambda block: theirs.feed(torch.from_numpy(block)), audio, first, theirs.hop)
                theirs.reset()
            rows.append(hop_row(label, "onnxruntime", onnx_times, ours.hop, RATE, **facts))
            rows.append(hop_row(label, "PyTorch streamer", torch_times, theirs.hop, RATE, **facts))
            print(f"measured {label}", flush=True)
    # The peers' rows join here: rows.append(hop_row("RNNoise", "librnnoise", hop_times(...), 480, 48000)).
    import onnxruntime

    print(
        f"\n{platform.processor() or platform.machine()}, 1 thread (torch and onnxruntime), torch {torch.__version__}, "
        f"onnxruntime {onnxruntime.__version__}, {args.seconds:g} s of audio x {args.repeats} repeats per row"
    )
    print(tabulate(rows, headers="keys", tablefmt="github"))


if __name__ == "__main__":
    main()
