"""SEMamba speed on CPU with the pure-PyTorch selective scan: offline real-time factor on
10 s of 16 kHz audio, official configuration and smaller ones, next to the Mamba block alone.

    python benchmarks/semamba.py [--threads 1] [--seconds 10] [--repeats 2]

Real-time factor = compute time / audio duration (below 1 is faster than real time).
"""

from __future__ import annotations

import argparse
import platform

import torch
from tabulate import tabulate

from sepflow.infer.speed import seconds_per_second
from sepflow.models import build_model, count_parameters
from sepflow.models.mamba import use_backend

SR = 16000
CONFIGS = {
    "semamba official (64 features, 4 blocks)": {},
    "semamba 32 features, 2 blocks": {"features": 32, "blocks": 2},
    "semamba 16 features, 2 blocks": {"features": 16, "blocks": 2},
}


@torch.inference_mode()
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    torch.manual_seed(0)
    audio = 0.1 * torch.randn(1, 1, int(args.seconds * SR))
    rows = []
    for name, model_args in CONFIGS.items():
        model = use_backend(build_model("semamba", **model_args), "torch").eval()
        for threads in args.threads:
            torch.set_num_threads(threads)
            rows.append(
                [
                    name,
                    f"{count_parameters(model) / 1e6:.3f}",
                    threads,
                    f"{seconds_per_second(model, audio, SR, args.repeats):.2f}",
                ]
            )
    print(f"CPU: {platform.processor() or platform.machine()}, torch {torch.__version__}, {args.seconds:g} s of audio")
    print(tabulate(rows, headers=["model", "M params", "threads", "RTF"], tablefmt="github"))


if __name__ == "__main__":
    main()
