"""How far a demo-sized unet1d gets on the synthesized demo music in a few CPU minutes.

    python benchmarks/music_demo_training.py [--budget 180] [--threads 1] [--n-train 8] ...

Synthesizes the demo music (MUSDB18 decoded-WAV layout), reads it with musdb, trains
unet1d for a wall-clock budget (random crops, the mixture as the sum of the cropped stems,
AdamW, L1 on the sources), then prints the per-stem museval SDR (median over 1 s frames,
then over the test tracks) of unet1d, the mixture baseline and the oracle IRM. A plain
loop on purpose: it sizes the demo's defaults, the pipeline trains with sepflow.train.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import musdb
import numpy as np
import torch
from tabulate import tabulate

from sepflow.data.manifest import MUSIC_SOURCES
from sepflow.demo.music import synthesize_music
from sepflow.infer.separation_baselines import mixture_baseline, oracle_irm
from sepflow.metrics.music import median_over_tracks, music_metrics
from sepflow.models import build_model, count_parameters


def stems_of(track) -> np.ndarray:
    """(sources, channels, time) float32 in MUSIC_SOURCES order."""
    return np.stack([track.targets[name].audio.T for name in MUSIC_SOURCES]).astype(np.float32)


def random_batch(rng: np.random.Generator, tracks: list[np.ndarray], batch: int, segment: int, remix: bool):
    """Random crops; with remix each stem comes from its own random track and offset."""
    targets = np.empty((batch, len(MUSIC_SOURCES), 2, segment), dtype=np.float32)
    for b in range(batch):
        k = int(rng.integers(len(tracks)))
        for j in range(len(MUSIC_SOURCES)):
            if remix:
                k = int(rng.integers(len(tracks)))
            start = int(rng.integers(tracks[k].shape[-1] - segment + 1))
            targets[b, j] = tracks[k][j, :, start : start + segment]
    targets = torch.from_numpy(targets)
    return targets.sum(dim=1), targets


def evaluate(rows: dict, name: str, track, estimates: np.ndarray) -> None:
    refs = {n: track.targets[n].audio for n in MUSIC_SOURCES}
    ests = {n: estimates[j].T for j, n in enumerate(MUSIC_SOURCES)}
    rows.setdefault(name, []).extend(music_metrics(refs, ests, track.rate))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=180.0, help="training CPU seconds of this process")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--n-train", type=int, default=8)
    parser.add_argument("--n-test", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0, help="track length")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--segment", type=float, default=1.0, help="crop seconds")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--basis", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--remix", action="store_true", help="draw each stem from its own track")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-baselines", action="store_true", help="score unet1d only")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)

    root = tempfile.mkdtemp(prefix="music_demo_")
    start = time.perf_counter()
    synthesize_music(root, n_train=args.n_train, n_test=args.n_test, seed=args.seed, seconds=args.seconds)
    print(f"synthesized {args.n_train}+{args.n_test} tracks of {args.seconds} s in {time.perf_counter() - start:.1f} s")
    train = [stems_of(t) for t in musdb.DB(root=root, is_wav=True, subsets="train")]
    test = list(musdb.DB(root=root, is_wav=True, subsets="test"))
    sr = test[0].rate

    model = build_model("unet1d", basis=args.basis, hidden=args.hidden, depth=args.depth)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr)
    print(f"unet1d basis={args.basis} hidden={args.hidden} depth={args.depth}: {count_parameters(model):,} parameters")
    segment = int(args.segment * sr)
    # CPU time, not wall time, so a busy shared machine does not shorten the training.
    steps, losses, start, wall = 0, [], time.process_time(), time.perf_counter()
    while time.process_time() - start < args.budget:
        mixture, targets = random_batch(rng, train, args.batch, segment, args.remix)
        loss = torch.nn.functional.l1_loss(model(mixture), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        steps += 1
        if steps % 100 == 0:
            print(
                f"step {steps}  loss {np.mean(losses[-100:]):.5f}  {time.process_time() - start:.0f} CPU s", flush=True
            )
    print(f"trained {steps} steps in {time.process_time() - start:.0f} CPU s ({time.perf_counter() - wall:.0f} s wall)")

    model.eval()
    rows: dict[str, list] = {}
    for track in test:
        mixture, stems = track.audio.T.astype(np.float32), stems_of(track)
        with torch.inference_mode():
            separated = model(torch.from_numpy(mixture)[None])[0].numpy()
        evaluate(rows, "unet1d", track, separated)
        if not args.no_baselines:
            evaluate(rows, "mixture", track, mixture_baseline(mixture, len(MUSIC_SOURCES)))
            evaluate(rows, "oracle_irm", track, oracle_irm(mixture, stems))
    table = {name: {r["source"]: r["sdr"] for r in median_over_tracks(r)} for name, r in rows.items()}
    print(
        tabulate(
            [[name, *(table[name][s] for s in MUSIC_SOURCES)] for name in table],
            headers=["SDR (dB)", *MUSIC_SOURCES],
            floatfmt=".2f",
        )
    )


if __name__ == "__main__":
    main()
