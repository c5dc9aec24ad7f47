"""Manifest building in 1 and in more processes (issue 19): a large split's files are read and
hashed in as many worker processes as the manifest job has threads (`threads.manifest`). On
a prepared folder that benchmarks/scale.py left, the same split's manifest is built
alternately with each count, and the wall-clock medians are compared (the machine may be
shared: rounds alternate so that load hits every count alike). `--min-items 0` puts splits
of any size in workers, to find the size below which one process is faster.

    .venv/bin/python benchmarks/manifest_threads.py /tmp/sepflow-scale/projects/n100000 --threads 1,2
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
from pathlib import Path

import sepflow.data.manifest as manifest_module
from sepflow.data.manifest import paired_manifest

logger = logging.getLogger("manifest_threads")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("project", type=Path, help="a project whose data/audio/scale/train is prepared")
    parser.add_argument("--split", default="train")
    parser.add_argument("--threads", default="1,2", help="process counts to compare (a manifest job's threads)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--min-items", type=int, help="override PARALLEL_MIN_ITEMS")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    data = args.project / "data"
    folder = data / "audio/scale" / args.split
    counts = [int(t) for t in args.threads.split(",")]
    if args.min_items is not None:
        manifest_module.PARALLEL_MIN_ITEMS = args.min_items
    times: dict[int, list[float]] = {t: [] for t in counts}
    items = 0
    for round_ in range(args.rounds):
        for threads in counts:
            start = time.perf_counter()
            manifest = paired_manifest(folder, data, "scale", args.split, 16000, threads=threads)
            times[threads].append(time.perf_counter() - start)
            items = len(manifest.items)
            logger.info("round %d, %d process(es): %.2f s", round_ + 1, threads, times[threads][-1])
    base = statistics.median(times[counts[0]])
    print(f"{items} items ({2 * items} files) of {folder}, median of {args.rounds} rounds")
    print("| processes | wall s | speed-up |")
    print("|---|---|---|")
    for threads in counts:
        median = statistics.median(times[threads])
        print(f"| {threads} | {median:.2f} | {base / median:.2f} |")


if __name__ == "__main__":
    main()
