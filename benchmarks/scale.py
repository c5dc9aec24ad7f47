"""Corpus scale (issue 19): what each invocation of the workflow costs as a user's corpus grows.

An invocation should cost O(datasets), not O(files): a dry run on a finished project, or after
one file is added, should not read every file of a large corpus, and the jobs that must touch
every file (prepare, manifest) should do so once each. This measures it from the outside: it
writes a `paired_folder` corpus whose train split holds N files (N/2 clean/noisy pairs of
0.5 s at 16 kHz; valid and test hold 4 pairs each), a project naming it with one tiny trained
experiment, and runs the real `snakemake` of a repository (`--repo`) through its command line
only, with PYTHONPATH at that repository's src/, so the same script measures the code before
and after a change.

Stages, in order, each on the project the stages before it left:

    prepare   `snakemake data/audio/scale` on a new project
    manifest  `snakemake all_manifests`
    train     `snakemake all_models` (one tiny training job)
    rest      `snakemake -n` on the finished project (its report made, untimed, before)
    added     `snakemake -n` after one pair is added to the corpus's train split (taken out after)

Per stage and N: CPU s (user + sys of the whole process tree, from os.wait4), wall s, peak RSS
(the largest process of the tree), the job's own CPU s and RSS where its rule has a `benchmark:`
file, the stat- and open-family syscalls counted by `strace -c -f` in a second project run
through the same stages (strace slows what it traces, so it is never the timed run), and for the
dry runs the plan: jobs per rule. Then the growth per file between the smallest and largest N.

    .venv/bin/python benchmarks/scale.py --sizes 2000,20000 --repo /work/wt-before

Every timed run comes first, the strace runs after: on 2 cores the timed stages of N=100000 take
about 8 minutes, and strace slows a Snakemake run of that size more than tenfold (its prepare had
not started its job after 9 minutes), so count syscalls up to N=20000 (a count per file is exact:
it does not vary from run to run) and time the largest N with --no-strace.

Corpora are kept under --workdir and reused; projects are made afresh on every run.
"""

from __future__ import annotations

import argparse
import csv
import io
import logging
import os
import re
import shutil
import struct
import subprocess
import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

logger = logging.getLogger("scale")

HERE = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
STRACE = "/usr/bin/strace"
STAGES = ("prepare", "manifest", "train", "rest", "added")
STAT_CALLS = {"stat", "lstat", "fstat", "newfstatat", "statx", "fstatat64", "access", "faccessat", "faccessat2"}
OPEN_CALLS = {"open", "openat", "openat2"}

DATASET = "scale"
EXPERIMENT = "tiny"
RATE = 16000
SAMPLES = RATE // 2
FIXED_PAIRS = 4  # pairs in the valid and test splits, whatever N
VARIANTS = 64  # distinct sample buffers; every file also carries its own index in its first samples
ADDED = "zz_added"


# --- the corpus ---------------------------------------------------------------------------


def wav_bytes(samples: np.ndarray) -> bytes:
    """A mono 16-bit PCM WAV at RATE holding `samples` (int16)."""
    data = samples.astype("<i2").tobytes()
    fmt = struct.pack("<HHIIHH", 1, 1, RATE, RATE * 2, 2, 16)
    return (
        b"RIFF"
        + struct.pack("<I", 36 + len(data))
        + b"WAVEfmt "
        + struct.pack("<I", 16)
        + fmt
        + b"data"
        + struct.pack("<I", len(data))
        + data
    )


def sample_buffers(rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray]]:
    """VARIANTS (clean, noisy) pairs: a tone and the tone with noise."""
    t = np.arange(SAMPLES) / RATE
    pairs = []
    for k in range(VARIANTS):
        clean = 0.3 * np.sin(2 * np.pi * (200 + 10 * k) * t)
        noisy = clean + 0.1 * rng.standard_normal(SAMPLES)
        pairs.append(tuple((np.clip(x, -1, 1) * 32767).astype(np.int16) for x in (clean, noisy)))
    return pairs


def write_pair(split_dir: Path, name: str, index: int, buffers: list[tuple[np.ndarray, np.ndarray]]) -> None:
    for side, samples in zip(("clean", "noisy"), buffers[index % VARIANTS]):
        marked = samples.copy()
        marked[:2] = (index & 0x7FFF, index >> 15)  # distinct bytes per file, inaudible
        (split_dir / side / f"{name}.wav").write_bytes(wav_bytes(marked))


def write_split(split_dir: Path, pairs: int, buffers) -> None:
    for side in ("clean", "noisy"):
        (split_dir / side).mkdir(parents=True)
    for i in range(pairs):
        write_pair(split_dir, f"item{i:06d}", i, buffers)


def corpus(workdir: Path, files: int) -> Path:
    """The corpus whose train split holds `files` files, written once (into a staging folder
    renamed into place) and reused."""
    root = workdir / "corpora" / f"n{files}"
    if root.is_dir():
        return root
    staging = root.with_name(root.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    logger.info("writing a corpus of %d train files in %s", files, root)
    start = time.perf_counter()
    buffers = sample_buffers(np.random.default_rng(files))
    write_split(staging / "train", files // 2, buffers)
    for split in ("valid", "test"):
        write_split(staging / split, FIXED_PAIRS, buffers)
    staging.rename(root)
    logger.info("corpus written in %.1f s", time.perf_counter() - start)
    return root


# --- the project --------------------------------------------------------------------------


def project_config(corpus_dir: Path) -> dict:
    """One paired_folder dataset and one tiny trained experiment scored on its test split."""
    return {
        "seed": 7,
        "data_dir": "data",
        "results_dir": "results",
        "device": "cpu",
        "threads": {"train": 1, "enhance": 1, "evaluate": 1, "prepare": 2},
        "metrics": {"composite": "loizou", "dnsmos": False},
        "datasets": {
            DATASET: {
                "recipe": "paired_folder",
                "path": str(corpus_dir),
                "sample_rate": RATE,
                "splits": ["train", "valid", "test"],
            }
        },
        "experiments": {
            EXPERIMENT: {
                "model": "gatewave",
                "args": {"hidden": 4, "depth": 2},
                "data": {"dataset": DATASET, "train": "train", "valid": "valid"},
                "train": {"steps": 2, "batch_size": 2, "segment": 0.5, "loss": {"name": "l1"}, "valid_every": 2},
                "test_sets": [f"{DATASET}/test"],
            }
        },
    }


def new_project(path: Path, corpus_dir: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    (path / "config.yaml").write_text(yaml.safe_dump(project_config(corpus_dir), sort_keys=False))
    return path


# --- running Snakemake --------------------------------------------------------------------


@dataclass
class Run:
    """One process tree's cost: CPU and wall seconds, peak RSS (MB), and its output."""

    cpu_s: float
    wall_s: float
    rss_mb: float
    output: str


def run_tree(cmd: list[str], env: dict[str, str], log: Path) -> Run:
    """Run `cmd` to completion; its rusage is that of it and every descendant it waited for."""
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
        start = time.perf_counter()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    output = log.read_text(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:8])} ... failed ({proc.returncode}); see {log}:\n{output[-3000:]}")
    return Run(usage.ru_utime + usage.ru_stime, wall, usage.ru_maxrss / 1024, output)


class Workflow:
    """The snakemake of `repo`, run in a project folder, timed or under strace."""

    def __init__(self, repo: Path, logs: Path):
        self.repo = repo
        self.logs = logs
        self.env = {**os.environ, "PYTHONPATH": str(repo / "src")}

    def command(self, project: Path, args: list[str]) -> list[str]:
        """Targets first: `--resources` takes every word after it."""
        snakefile = self.repo / "Snakefile"
        return [str(SNAKEMAKE), *args, "-s", str(snakefile), "-d", str(project), "--cores", "2", "--resources", "gpu=1"]

    def timed(self, project: Path, args: list[str], name: str) -> Run:
        return run_tree(self.command(project, args), self.env, self.logs / f"{name}.log")

    def traced(self, project: Path, args: list[str], name: str) -> dict[str, int]:
        """Syscall counts of the whole tree, by name."""
        summary = self.logs / f"{name}.strace"
        run_tree(
            [STRACE, "-c", "-f", "-o", str(summary), *self.command(project, args)], self.env, self.logs / f"{name}.log"
        )
        return strace_counts(summary.read_text())


def strace_counts(summary: str) -> dict[str, int]:
    """Calls per syscall from `strace -c` output (columns: % time, seconds, usecs/call, calls,
    [errors], syscall)."""
    counts = {}
    for line in summary.splitlines():
        cols = line.split()
        if len(cols) in (5, 6) and cols[3].isdigit() and cols[-1] != "total":
            counts[cols[-1]] = int(cols[3])
    return counts


def job_stats(output: str) -> dict[str, int]:
    """Snakemake's 'Job stats' table of a dry run: jobs planned per rule."""
    match = re.search(r"Job stats:\n(.*?)\n\s*total\s+\d+", output, flags=re.S)
    if not match:
        return {}
    rows = (line.split() for line in match.group(1).splitlines())
    return {cols[0]: int(cols[1]) for cols in rows if len(cols) == 2 and cols[1].isdigit()}


def why(output: str) -> list[str]:
    """What the stale check said (one line per cause), and each planned rule's first reason."""
    said = [line for line in output.splitlines() if line.startswith("sepflow: ")]
    reasons = {}
    for rule, reason in re.findall(r"^rule (\w+):\n(?:[ \t]+.*\n)*?[ \t]+reason: (.*)$", output, flags=re.M):
        reasons.setdefault(rule, f"{rule}: {reason[:200]}")
    return said + list(reasons.values())


def benchmark_tsv(path: Path) -> tuple[float, float] | None:
    """(cpu_time s, max_rss MB) from a Snakemake benchmark: file, when the rule has one."""
    if not path.is_file():
        return None
    row = next(csv.DictReader(io.StringIO(path.read_text()), delimiter="\t"))
    return float(row["cpu_time"]), float(row["max_rss"])


# --- the stages ---------------------------------------------------------------------------


@dataclass
class Stage:
    """A stage: its snakemake arguments, its rule's benchmark: file, and whether it plans only."""

    args: list[str]
    benchmark: str | None = None
    dry: bool = False


STAGE_RUNS = {
    "prepare": Stage([f"data/audio/{DATASET}"], benchmark=f"data/benchmarks/{DATASET}/prepare.tsv"),
    "manifest": Stage(["all_manifests"]),
    "train": Stage(["all_models"], benchmark=f"results/{EXPERIMENT}/benchmarks/train.tsv"),
    "rest": Stage(["-n"], dry=True),
    "added": Stage(["-n"], dry=True),
}


@dataclass
class Row:
    """One stage at one N."""

    stage: str
    files: int
    run: Run | None = None
    job: tuple[float, float] | None = None
    calls: dict[str, int] = field(default_factory=dict)
    plan: dict[str, int] = field(default_factory=dict)
    why: list[str] = field(default_factory=list)

    def stats(self) -> int | None:
        return sum(self.calls.get(c, 0) for c in STAT_CALLS) if self.calls else None

    def opens(self) -> int | None:
        return sum(self.calls.get(c, 0) for c in OPEN_CALLS) if self.calls else None


class AddedPair:
    """One pair added to the corpus's train split for the duration of a `with`."""

    def __init__(self, corpus_dir: Path):
        self.split = corpus_dir / "train"

    def __enter__(self):
        write_pair(self.split, ADDED, 0, sample_buffers(np.random.default_rng(0)))

    def __exit__(self, *exc):
        for side in ("clean", "noisy"):
            (self.split / side / f"{ADDED}.wav").unlink(missing_ok=True)


def run_stages(flow: Workflow, project: Path, corpus_dir: Path, stages: list[str], trace: bool) -> dict[str, Row]:
    """Every stage up to the last one asked for, in order, on one new project; the stages
    asked for are measured (timed, or counted under strace), the others only run."""
    rows = {}
    files = int(corpus_dir.name[1:])
    last = max(STAGES.index(s) for s in stages)
    for name in STAGES[: last + 1]:
        if name == "rest":
            flow.timed(project, [], f"n{files}-finish")  # the report: the project is finished
        stage = STAGE_RUNS[name]
        if name not in stages:
            if not stage.dry:
                flow.timed(project, stage.args, f"n{files}-{name}-setup")
            continue
        logger.info("N=%d %s%s", files, name, " (strace)" if trace else "")
        tag = f"n{files}-{name}-{'strace' if trace else 'timed'}"
        with AddedPair(corpus_dir) if name == "added" else nullcontext():
            rows[name] = measure(flow, project, name, stage, files, tag, trace)
    return rows


def measure(flow: Workflow, project: Path, name: str, stage: Stage, files: int, tag: str, trace: bool) -> Row:
    row = Row(name, files)
    if trace:
        row.calls = flow.traced(project, stage.args, tag)
        return row
    row.run = flow.timed(project, stage.args, tag)
    if stage.benchmark:
        row.job = benchmark_tsv(project / stage.benchmark)
    if stage.dry:
        row.plan = job_stats(row.run.output)
        row.why = why(row.run.output)
    return row


def timed_rows(flow: Workflow, workdir: Path, files: int, stages: list[str]) -> list[Row]:
    corpus_dir = corpus(workdir, files)
    project = new_project(workdir / "projects" / f"n{files}", corpus_dir)
    return list(run_stages(flow, project, corpus_dir, stages, False).values())


def add_calls(flow: Workflow, workdir: Path, files: int, stages: list[str], rows: list[Row]) -> None:
    """The syscall counts of `files`' stages, from a second project run under strace."""
    corpus_dir = corpus(workdir, files)
    project = new_project(workdir / "projects" / f"n{files}-strace", corpus_dir)
    traced = run_stages(flow, project, corpus_dir, stages, True)
    for row in rows:
        if row.files == files:
            row.calls = traced[row.stage].calls


# --- the tables ---------------------------------------------------------------------------


def fmt(value, digits: int = 2) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def table(rows: list[Row]) -> str:
    head = (
        "| stage | N files | CPU s | wall s | peak RSS MB | job CPU s | job RSS MB | stat calls | open calls | plan |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in sorted(rows, key=lambda r: (STAGES.index(r.stage), r.files)):
        job_cpu, job_rss = r.job or (None, None)
        plan = " ".join(f"{k}={v}" for k, v in r.plan.items()) or (
            "nothing" if r.run and r.stage in ("rest", "added") else ""
        )
        cells = [
            r.stage,
            r.files,
            r.run.cpu_s,
            r.run.wall_s,
            fmt(r.run.rss_mb, 0),
            job_cpu,
            fmt(job_rss, 0),
            r.stats(),
            r.opens(),
            plan,
        ]
        lines.append("| " + " | ".join(fmt(c) for c in cells) + " |")
    return "\n".join(lines)


def per_file(lo: Row, hi: Row) -> list:
    """Growth per file between two sizes: CPU, wall and job CPU ms, syscalls."""
    span = hi.files - lo.files

    def slope(a, b, scale=1.0):
        return None if a is None or b is None else (b - a) * scale / span

    return [
        slope(lo.run.cpu_s, hi.run.cpu_s, 1000),
        slope(lo.run.wall_s, hi.run.wall_s, 1000),
        slope(lo.job and lo.job[0], hi.job and hi.job[0], 1000),
        slope(lo.stats(), hi.stats()),
        slope(lo.opens(), hi.opens()),
    ]


def growth_table(rows: list[Row]) -> str:
    sizes = sorted({r.files for r in rows})
    head = f"| stage (N {sizes[0]} -> {sizes[-1]}) | CPU ms/file | wall ms/file | job CPU ms/file | stat calls/file | open calls/file |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    by = {(r.stage, r.files): r for r in rows}
    for stage in STAGES:
        if (stage, sizes[0]) in by and (stage, sizes[-1]) in by:
            cells = per_file(by[stage, sizes[0]], by[stage, sizes[-1]])
            lines.append(f"| {stage} | " + " | ".join(fmt(c, 3) for c in cells) + " |")
    return "\n".join(lines)


def why_report(rows: list[Row]) -> str:
    """Why the dry runs planned what they did, per N."""
    return "\n".join(f"{r.stage} N={r.files}: {line}" for r in rows for line in r.why)


# --- the command line ---------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="2000,20000", help="train files per corpus (even), comma-separated")
    parser.add_argument("--repo", type=Path, default=HERE, help="the repository whose workflow is measured")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/sepflow-scale"), help="corpora, projects, logs")
    parser.add_argument("--stages", default=",".join(STAGES), help=f"some of {','.join(STAGES)}")
    parser.add_argument("--no-strace", action="store_true", help="skip the syscall counts (and their second run)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")

    sizes = sorted(int(s) for s in args.sizes.split(","))
    stages = args.stages.split(",")
    if odd := [s for s in stages if s not in STAGES]:
        parser.error(f"unknown stages {odd}; choose from {','.join(STAGES)}")
    strace = not args.no_strace and Path(STRACE).is_file()
    logs = args.workdir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    flow = Workflow(args.repo.resolve(), logs)
    logger.info("measuring %s (snakemake %s), logs in %s", flow.repo, SNAKEMAKE, logs)

    rows = []
    for files in sizes:  # every timed run first: strace at large N takes long
        rows += timed_rows(flow, args.workdir, files, stages)
        logger.info("so far:\n%s", table(rows))
    for files in sizes if strace else []:
        add_calls(flow, args.workdir, files, stages, rows)
        logger.info("so far:\n%s", table(rows))
    print(f"\nrepo: {flow.repo}\n\n{table(rows)}")
    if len(sizes) > 1:
        print("\n" + growth_table(rows))
    if report := why_report(rows):
        print("\nwhy the dry runs plan what they do:\n" + report)


if __name__ == "__main__":
    main()
