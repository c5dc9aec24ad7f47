"""What the training loader's workers buy: steps per second, and seconds per step spent
waiting for the batch, with `num_workers: 0` against the default (the job's threads but one).

    python benchmarks/loader.py [--threads 2] [--steps 30] [--rounds 3] [--model gatewave] [--args JSON] [--device cpu]

Writes a paired split (4 s pairs) and on-the-fly mixing pools (30 s speech, 10 s noises,
0.5 s RIRs) as 16 kHz WAVs to a temporary folder, builds their manifests as the pipeline
does, and trains the model (Adam, L1) on `--threads` torch threads over the batches of
`sepflow.train.loader.training_loader`, as the training loop reads them. The settings
alternate round by round and each row is the median over rounds: the machine may be busy, so
compare the ratios within one run, not figures across runs. The first steps of each run
(the workers starting, their queues filling) are not timed. The default model is small, so
that its CPU step is short as a GPU's step is and the loading shows; a demo-sized model on
the CPU (`--args '{}'`) spends seconds per step computing, and the loading is noise beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from tabulate import tabulate
from torch.utils.data import Dataset

from sepflow.data.datasets.files import FileSegments
from sepflow.data.datasets.mixing import MixingSegments, mixer_from_manifests
from sepflow.data.manifest import paired_manifest, pool_manifest
from sepflow.data.segments import StepBatches
from sepflow.models import as_sources, build_model
from sepflow.train.loader import loader_workers, raising, training_loader

SR = 16000
WARMUP = 4


def write_wav(path: Path, audio: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), audio.astype(np.float32), SR, subtype="PCM_16")


def datasets(root: Path, segment: float) -> dict[str, Dataset]:
    """A paired split and a mixing dataset over pools, read from WAVs through their manifests."""
    rng = np.random.default_rng(0)
    for i in range(40):
        clean = 0.1 * rng.normal(size=4 * SR)
        write_wav(root / f"audio/paired/clean/{i:03d}.wav", clean)
        write_wav(root / f"audio/paired/noisy/{i:03d}.wav", clean + 0.05 * rng.normal(size=clean.size))
    for name, count, seconds in (("speech", 40, 30.0), ("noise", 40, 10.0), ("rirs", 40, 0.5)):
        for i in range(count):
            audio = 0.1 * rng.normal(size=int(seconds * SR))
            if name == "rirs":
                audio *= np.exp(-6.9 * np.arange(audio.size) / (0.4 * SR))
            write_wav(root / f"audio/{name}/{i:03d}.wav", audio)
    crop = int(segment * SR)
    pools = [[pool_manifest(root / f"audio/{name}", root, "pools", name, SR)] for name in ("speech", "noise", "rirs")]
    return {
        "paired (4 s pairs)": FileSegments(
            paired_manifest(root / "audio/paired", root, "paired", "train", SR), crop, 0
        ),
        "mixing (p=q=0.5)": MixingSegments(mixer_from_manifests(*pools, segment_samples=crop), seed=0),
    }


def run(dataset: Dataset, workers: int, args: argparse.Namespace) -> tuple[float, float]:
    """Steps per second and seconds per step waiting for the batch, after the warm-up."""
    torch.manual_seed(0)
    model = build_model(args.model, **json.loads(args.args)).to(args.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    batches = raising(training_loader(dataset, StepBatches(len(dataset), args.batch, seed=0), workers, seed=0))
    waited, start = 0.0, 0.0
    for step in range(WARMUP + args.steps):
        if step == WARMUP:
            waited, start = 0.0, time.perf_counter()
        asked = time.perf_counter()
        mixture, targets = (x.to(args.device) for x in next(batches))
        waited += time.perf_counter() - asked
        estimate = as_sources(model(mixture), targets.shape[1])
        loss = (estimate - targets).abs().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if args.device == "cuda":
            torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    return args.steps / seconds, waited / args.steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="the job's threads (config threads.train)")
    parser.add_argument("--steps", type=int, default=30, help="timed steps per run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--segment", type=float, default=2.0, help="seconds per training crop")
    parser.add_argument("--model", default="gatewave", help="a registered model")
    parser.add_argument("--args", default='{"hidden": 8, "depth": 2}', help="the model's arguments, JSON")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)  # as the train job's stage does
    default = loader_workers(None, args.threads)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, dataset in datasets(Path(tmp), args.segment).items():
            runs: dict[int, list[tuple[float, float]]] = {0: [], default: []}
            for _ in range(args.rounds):
                for workers in runs:
                    runs[workers].append(run(dataset, workers, args))
            rate = {w: statistics.median(r[0] for r in results) for w, results in runs.items()}
            for workers, results in runs.items():
                waited = statistics.median(r[1] for r in results)
                rows.append([name, workers, f"{rate[workers]:.2f}", f"{waited:.3f}", f"{rate[workers] / rate[0]:.2f}"])
    print(
        f"{args.model} {args.args} on {args.device}, batch {args.batch} x {args.segment:g} s at {SR} Hz, {args.threads} threads "
        f"(default workers {default}), {args.steps} steps x {args.rounds} rounds; {os.cpu_count()} CPU cores, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    print(tabulate(rows, headers=["data", "workers", "steps / s", "waiting s / step", "speed vs 0 workers"]))


if __name__ == "__main__":
    main()
