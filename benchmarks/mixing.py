"""On-the-fly mixing speed on CPU: mixtures per second per core, and DataLoader throughput.

    python benchmarks/mixing.py [--seconds 5] [--rir-seconds 0.5] [--mixtures 400]

Pools are written as WAV files in a temporary folder first (30 s speech files, 10 s noises,
0.5 s RIRs at 16 kHz), so every crop is read from disk as in training. Single-core figures
run at one thread; `p=q=1` is the worst case (both signals reverberated), `p=q=0.5` the default.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402
import torch  # noqa: E402
from tabulate import tabulate  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

from sepflow.data.datasets.mixing import MixingSegments, RandomMixtureSampler, RirSampler, SignalSampler  # noqa: E402
from sepflow.data.segments import StepBatches  # noqa: E402

SR = 16000


def write_pools(root: Path, rir_seconds: float) -> dict[str, list[tuple[Path, int]]]:
    rng = np.random.default_rng(0)
    pools: dict[str, list[tuple[Path, int]]] = {"speech": [], "noise": [], "rirs": []}
    for name, count, seconds in (("speech", 40, 30.0), ("noise", 40, 10.0), ("rirs", 40, rir_seconds)):
        for i in range(count):
            n = int(seconds * SR)
            audio = 0.1 * rng.normal(size=n)
            if name == "rirs":
                audio *= np.exp(-6.9 * np.arange(n) / (0.4 * SR))
            path = root / name / f"{i}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(str(path), audio.astype(np.float32), SR, subtype="PCM_16")
            pools[name].append((path, n))
    return pools


def make_mixer(pools, seconds: float, p: float) -> RandomMixtureSampler:
    crop = int(seconds * SR)
    return RandomMixtureSampler(
        SignalSampler(pools["speech"], crop),
        SignalSampler(pools["noise"], crop),
        RirSampler(pools["rirs"]),
        SR,
        p_speech_rir=p,
        p_noise_rir=p,
    )


def per_core(mixer: RandomMixtureSampler, n: int) -> tuple[float, float]:
    """Mixtures per CPU second of this one-threaded process (what a core gives, however busy
    the machine is), and per wall-clock second."""
    rng = np.random.default_rng(0)
    for _ in range(10):
        mixer.draw(rng)
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(n):
        mixer.draw(rng)
    return n / (time.process_time() - cpu), n / (time.perf_counter() - wall)


def loader_rate(mixer: RandomMixtureSampler, workers: int, n: int, batch: int = 16) -> float:
    dataset = MixingSegments(mixer, seed=0)
    sampler = StepBatches(len(dataset), batch, seed=0)
    batches = [sampler.batch_at(s) for s in range(n // batch + 2)]
    loader = iter(DataLoader(dataset, batch_sampler=batches, num_workers=workers))
    next(loader), next(loader)  # start the workers
    start = time.perf_counter()
    count = sum(mix.shape[0] for mix, _ in loader)
    return count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rir-seconds", type=float, default=0.5)
    parser.add_argument("--mixtures", type=int, default=400)
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        pools = write_pools(Path(tmp), args.rir_seconds)
        rows = []
        for p in (1.0, 0.5, 0.0):
            cpu, wall = per_core(make_mixer(pools, args.seconds, p), args.mixtures)
            rows.append([f"one core, p=q={p}", f"{cpu:.0f}", f"{wall:.0f}"])
        for workers in (1, 2):
            rate = loader_rate(make_mixer(pools, args.seconds, 0.5), workers, args.mixtures)
            rows.append([f"DataLoader, {workers} worker(s), p=q=0.5", "", f"{rate:.0f}"])
    print(
        f"{args.seconds:g} s mixtures at {SR} Hz, {args.rir_seconds:g} s RIRs, read from WAV files; "
        f"{os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.1f}"
    )
    print(tabulate(rows, headers=["setting", "mixtures / CPU s", "mixtures / wall s"]))


if __name__ == "__main__":
    main()
