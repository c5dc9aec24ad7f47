"""What a training job does before its first step, as the corpus grows (issue 19): read the
experiment's manifests, build its training data and read the first item. Before, every file
of every split was opened and stated at that point, in every rank and at every resume; now
each file is checked as it is read.

It runs on projects that benchmarks/scale.py left (their manifests and prepared files), in a
fresh process with PYTHONPATH at a repository's src/, so that the code before and after a
change can be compared on the same files:

    .venv/bin/python benchmarks/training_start.py --repo /work/wt-before --repo . \\
        /tmp/sepflow-scale/projects/n2000 /tmp/sepflow-scale/projects/n100000

Per repository and project: the CPU s and wall s of those steps (measured in the process,
imports excluded), and the stat- and open-family syscalls of the whole process by
`strace -c -f` (a second run; imports included, the same for every project).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale import OPEN_CALLS, STAT_CALLS, STRACE, strace_counts  # noqa: E402

logger = logging.getLogger("training_start")

START = """
import json, os, sys, time
from pathlib import Path
from sepflow.data.datasets import experiment_data
from sepflow.data.datasets.specs import TrainingDataSpec
project = Path(sys.argv[1])
manifests = {f"scale/{s}": project / f"data/manifests/scale/{s}.json" for s in ("train", "valid")}
spec = TrainingDataSpec.parse({"dataset": "scale", "train": "train", "valid": "valid"}, "experiments.tiny.data")
os.chdir(project)
cpu, wall = time.process_time(), time.perf_counter()
data = experiment_data(spec, manifests, 0.5, 7)
data.train[(0, 0)]
print(json.dumps({"cpu": time.process_time() - cpu, "wall": time.perf_counter() - wall, "items": len(data.train)}))
"""


def measure(repo: Path, project: Path, traced: bool) -> dict:
    env = {**os.environ, "PYTHONPATH": str(repo / "src")}
    command = [sys.executable, "-c", START, str(project)]
    with tempfile.TemporaryDirectory() as tmp:
        summary = Path(tmp) / "strace.txt"
        if traced:
            command = [STRACE, "-c", "-f", "-o", str(summary), *command]
        run = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
        result = json.loads(run.stdout.strip().splitlines()[-1])
        if traced:
            calls = strace_counts(summary.read_text())
            result["stat"] = sum(calls.get(c, 0) for c in STAT_CALLS)
            result["open"] = sum(calls.get(c, 0) for c in OPEN_CALLS)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("projects", nargs="+", type=Path, help="projects benchmarks/scale.py made (manifests built)")
    parser.add_argument("--repo", action="append", type=Path, required=True, help="a repository to measure")
    parser.add_argument("--no-strace", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    rows = []
    for repo in args.repo:
        for project in args.projects:
            logger.info("%s on %s", repo, project)
            timed = measure(repo.resolve(), project, traced=False)
            traced = {} if args.no_strace or not Path(STRACE).exists() else measure(repo.resolve(), project, True)
            rows.append((str(repo), project.name, timed["items"], timed["cpu"], timed["wall"], traced))
    print("| repo | project | train items | CPU s | wall s | stat calls | open calls |")
    print("|---|---|---|---|---|---|---|")
    for repo, project, items, cpu, wall, traced in rows:
        print(
            f"| {repo} | {project} | {items} | {cpu:.2f} | {wall:.2f} | "
            f"{traced.get('stat', '-')} | {traced.get('open', '-')} |"
        )


if __name__ == "__main__":
    main()
