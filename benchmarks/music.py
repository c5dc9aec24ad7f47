"""Music separation speed on CPU: unet1d training steps per second and separation real-time
factor at each thread count, and museval's BSSEval v4 seconds per track.

    python benchmarks/music.py [--threads 1 2] [--batch 4] [--segment 6] [--seconds 10]

Training steps are AdamW steps with L1 on the sources, on random stereo 44.1 kHz batches
(the data loading is not timed). Real-time factor = separation time / audio duration of a
stereo mixture of --seconds (below 1 is faster than real time). museval scores the four
stems of one synthesized demo track of --seconds against its mixture, as evaluation does.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time

import torch
from tabulate import tabulate

from sepflow.data.manifest import MUSIC_SOURCES
from sepflow.demo.music import MUSIC_SAMPLE_RATE as SR
from sepflow.demo.music import synthesize_music
from sepflow.infer.separation_baselines import mixture_baseline
from sepflow.infer.speed import seconds_per_second
from sepflow.metrics.music import music_metrics
from sepflow.models import build_model, count_parameters

CONFIGS = {
    "unet1d demo (basis 64, hidden 32, depth 4)": {},
    "unet1d reference (basis 256, hidden 64, depth 5)": {"basis": 256, "hidden": 64, "depth": 5},
}


def train_steps_per_second(model, batch: int, segment: int, steps: int) -> float:
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    targets = 0.05 * torch.randn(batch, len(MUSIC_SOURCES), 2, segment)
    mixture = targets.sum(dim=1)

    def step():
        loss = torch.nn.functional.l1_loss(model(mixture), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    step()  # warm-up
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return steps / (time.perf_counter() - start)


def museval_seconds(seconds: float) -> float:
    import soundfile

    with tempfile.TemporaryDirectory() as root:
        synthesize_music(root, n_train=0, n_test=1, seconds=seconds)
        folder = f"{root}/test/synth_test_00"
        refs = {name: soundfile.read(f"{folder}/{name}.wav")[0] for name in MUSIC_SOURCES}
        mixture = soundfile.read(f"{folder}/mixture.wav")[0]
        estimates = dict(zip(MUSIC_SOURCES, (s.T for s in mixture_baseline(mixture.T, len(MUSIC_SOURCES)))))
        start = time.perf_counter()
        music_metrics(refs, estimates, SR)
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--segment", type=float, default=6.0, help="training segment, seconds")
    parser.add_argument("--steps", type=int, default=3, help="timed training steps")
    parser.add_argument("--seconds", type=float, default=10.0, help="audio for the RTF and museval")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    rows = []
    for name, config in CONFIGS.items():
        model = build_model("unet1d", **config)
        for threads in args.threads:
            torch.set_num_threads(threads)
            model.train()
            steps = train_steps_per_second(model, args.batch, int(args.segment * SR), args.steps)
            model.eval()
            rtf = seconds_per_second(model, 0.1 * torch.randn(1, 2, int(args.seconds * SR)), SR, args.repeats)
            rows.append([name, f"{count_parameters(model):,}", threads, f"{steps:.3f}", f"{rtf:.4f}"])
    print(
        f"{platform.processor() or platform.machine()}, torch {torch.__version__}; "
        f"training batch {args.batch} x {args.segment} s stereo; RTF on {args.seconds} s stereo, 44.1 kHz"
    )
    print(tabulate(rows, headers=["model", "params", "threads", "train steps/s", "separation RTF"]))
    seconds = museval_seconds(args.seconds)
    print(
        f"\nmuseval BSSEval v4, 4 stereo stems of one {args.seconds} s track (1 s frames): "
        f"{seconds:.1f} s per track, {seconds / args.seconds:.2f} s per second of audio"
    )


if __name__ == "__main__":
    main()
