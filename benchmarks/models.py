"""Model speed on CPU: parameters, offline real-time factor on 10 s of 16 kHz audio, and for
the streaming models the compute time per hop and the streaming real-time factor.

    python benchmarks/models.py [--threads 1 2] [--seconds 10] [--repeats 3]

Real-time factor = compute time / audio duration (below 1 is faster than real time).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch
from tabulate import tabulate

from sepflow.infer.speed import seconds_per_second
from sepflow.models import build_model, count_parameters
from sepflow.models.demucs_stream import DemucsStreamer
from sepflow.models.tcm_unet_stream import TCMUNetStreamer

SR = 16000
# The reference configurations of the project's source documents.
MODELS = {
    "spec_unet": ("spec_unet", {}),
    "waveunet": ("waveunet", {}),
    "demucs dns48 causal": ("demucs", {"hidden": 48, "causal": True}),
    "demucs dns48 non-causal": ("demucs", {"hidden": 48, "causal": False}),
    "gatewave": ("gatewave", {}),
    "tcm_unet": ("tcm_unet", {}),
}
STREAMERS = {"demucs dns48 causal": DemucsStreamer, "tcm_unet": TCMUNetStreamer}


def streaming_times(streamer, audio: torch.Tensor) -> tuple[float, float, int]:
    """(median ms per hop, streaming real-time factor, hop in samples), one hop per call."""
    hop = streamer.hop
    first = getattr(streamer, "first_hop", hop)
    streamer.feed(audio[:, :first])
    per_hop, pos = [], first
    total = time.perf_counter()
    while pos + hop <= audio.shape[-1]:
        start = time.perf_counter()
        streamer.feed(audio[:, pos : pos + hop])
        per_hop.append(time.perf_counter() - start)
        pos += hop
    total = time.perf_counter() - total
    streamer.flush()
    return 1000 * statistics.median(per_hop), total / (pos / SR), hop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.manual_seed(0)
    audio = 0.1 * torch.randn(1, 1, int(args.seconds * SR))
    rows = []
    for label, (name, model_args) in MODELS.items():
        model = build_model(name, **model_args).eval()
        for threads in args.threads:
            torch.set_num_threads(threads)
            row = {
                "model": label,
                "threads": threads,
                "params (M)": f"{count_parameters(model) / 1e6:.2f}",
                "offline RTF": f"{seconds_per_second(model, audio, SR, args.repeats):.3f}",
            }
            if label in STREAMERS:
                ms, rtf, hop = streaming_times(STREAMERS[label](model), audio[0])
                row.update(
                    {"hop (ms)": f"{1000 * hop / SR:.1f}", "ms per hop": f"{ms:.2f}", "stream RTF": f"{rtf:.3f}"}
                )
            rows.append(row)
            print(f"measured {label} at {threads} thread(s)", flush=True)
    print(
        f"\n{platform.processor() or platform.machine()}, {torch.get_num_threads()} max threads, torch {torch.__version__}, "
        f"{args.seconds:g} s of {SR} Hz audio, best of {args.repeats}"
    )
    print(tabulate(rows, headers="keys", tablefmt="github", missingval="-"))


if __name__ == "__main__":
    main()
