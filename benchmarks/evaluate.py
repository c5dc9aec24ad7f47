"""Speech-metric throughput: items per second for 1 and 2 worker processes, and the overhead
of `speech_metrics` and of the evaluation rule's path over calling the metric packages directly.

    taskset -c 2,3 python benchmarks/evaluate.py [--items 32] [--seconds 3] [--no-dnsmos] [--repeats 2]

Items are demo-like: 3 s cut from the PESQ test speech at random offsets and levels, in
white, pink, hum or machinery noise at -5 to 5 dB SNR, with an estimate that keeps 30 % of
the noise. Rows:

- "raw package calls": the same numbers from the packages called directly (pesq, pystoi,
  the composite distances of both definitions, speechmos' DNSMOS), in one warm worker: the
  floor. The wrapper's checks (silence, the estimate's lag, reasons) are what the rows below add.
- "speech_metrics": the library call, in warm pools of 1 and 2 workers started with
  `single_thread_worker` (one thread per numerical library); "threads not pinned" runs 2
  workers without it, as evaluation did before.
- "evaluate_items": what the evaluate rule runs (`evaluate_manifest` -> `evaluate_items`
  with the rule's threads as workers), cold: a fresh process loads the lazily imported
  metric libraries, starts the pool, reads the items' files and warms each worker (DNSMOS
  sessions) as it goes; nothing is written. Its speed-up and overhead are what a pipeline
  run sees, fixed costs included (a few seconds: they weigh more on few items).

Pin the benchmark to two idle cores (`taskset -c`) of different physical cores: two
hyperthreads of one core share its execution units, and on a machine shared with other
jobs (or under Linux's autogroup scheduling, where all processes of one session share one
CPU share) a second worker gains little wall time. CPU seconds per item (all threads of all
workers) do not depend on the load: flat from 1 to 2 workers means free cores give a linear
speed-up; they grow when thread pools oversubscribe. On a virtual machine the host's other
tenants can change the CPU time of the same item by a third between rows (seen on a 16-vCPU
Xeon VM): trust ratios of rows whose CPU s/item agree, and repeat.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import resource
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pesq as pesq_package
from pystoi import stoi as pystoi
from tabulate import tabulate

from sepflow.audio import mix_at_snr, read_audio, si_snr, write_audio
from sepflow.demo.noise import make_noise
from sepflow.metrics import composite, dnsmos
from sepflow.metrics.evaluate import evaluate_items
from sepflow.metrics.speech import speech_metrics
from sepflow.metrics.threads import single_thread_worker

SR = 16000
SPEECH = Path(__file__).resolve().parents[1] / "tests" / "data" / "pesq" / "speech.wav"
NOISES = ("white", "pink", "hum", "machinery")
SPEED_UP_TARGET = 1.8
OVERHEAD_TARGET = 0.10


def demo_items(count: int, seconds: float, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(reference, estimate, mixture) triples of demo-like noisy speech."""
    speech = read_audio(SPEECH, expected_sr=SR)[0][0]
    speech = np.tile(speech, int(np.ceil(seconds * SR / speech.size)) + 1)
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    items = []
    for k in range(count):
        start = int(rng.integers(0, speech.size - n))
        reference = speech[start : start + n] * rng.uniform(0.3, 1.0)
        noise = make_noise(NOISES[k % len(NOISES)], rng, n, SR)
        mixture, scaled = mix_at_snr(reference, noise, rng.uniform(-5.0, 5.0))
        items.append((reference, reference + 0.3 * scaled, mixture))
    return items


def wrapped(item: tuple, use_dnsmos: bool) -> dict:
    return speech_metrics(*item, SR, dnsmos=use_dnsmos)[0]


def cpu_seconds(item: tuple, use_dnsmos: bool) -> float:
    """CPU time of the worker process (all its threads) spent scoring one item."""
    start = time.process_time()
    wrapped(item, use_dnsmos)
    return time.process_time() - start


def raw(item: tuple, use_dnsmos: bool) -> dict:
    """The same numbers from the packages, with no checks, reasons or segmenting."""
    reference, estimate, mixture = item
    wb = pesq_package.pesq(SR, reference, estimate, "wb")
    scores = {
        "pesq_wb": wb,
        "pesq_nb": pesq_package.pesq(SR, reference, estimate, "nb"),
        "stoi": pystoi(reference, estimate, SR),
        "estoi": pystoi(reference, estimate, SR, extended=True),
        "si_snr": si_snr(estimate, reference),
        "si_snr_input": si_snr(mixture, reference),
    }
    analysis = composite.Analysis(reference, estimate, SR)  # both definitions, as speech_metrics scores them
    for name in composite.DEFINITIONS:
        scores.update({f"{m}_{name}": v for m, v in composite.combine(wb, **analysis.distances(name)).items()})
    if use_dnsmos:
        scores.update(dnsmos.dnsmos(estimate, SR))
    return scores


_all_warm = None  # a barrier of all workers, set by the initializer


def _warm_worker(pin: bool, item: tuple, use_dnsmos: bool, barrier) -> None:
    global _all_warm
    if pin:
        single_thread_worker()
    wrapped(item, use_dnsmos)  # DNSMOS sessions, librosa and pystoi imports before timing
    _all_warm = barrier


def _wait_for_all_workers(_) -> None:
    _all_warm.wait()  # one such task per worker: each passes only when every worker is warm


def _raw_cpu_seconds(items: list, use_dnsmos: bool) -> float:
    start = time.process_time()
    for item in items:
        raw(item, use_dnsmos)
    return time.process_time() - start


def warm_pool(items: list, workers: int, pin: bool, use_dnsmos: bool, repeats: int, direct: bool = False) -> list:
    """[(items per second of wall time, CPU seconds per item summed over the workers)] of
    each repeat, timed once every worker has scored one item."""
    context = multiprocessing.get_context("fork")
    pool = ProcessPoolExecutor(
        workers,
        mp_context=context,
        initializer=_warm_worker,
        initargs=(pin, items[0], use_dnsmos, context.Barrier(workers)),
    )
    runs = []
    with pool:
        list(pool.map(_wait_for_all_workers, range(workers)))
        for _ in range(repeats):
            start = time.perf_counter()
            if direct:
                cpu = pool.submit(_raw_cpu_seconds, items, use_dnsmos).result()
            else:
                cpu = sum(pool.map(cpu_seconds, items, [use_dnsmos] * len(items)))
            runs.append((len(items) / (time.perf_counter() - start), cpu / len(items)))
    return runs


def write_items(items: list, folder: Path) -> list[dict]:
    """The items as evaluate_items takes them: WAV files (float, so the scores are the same)."""
    paths = []
    for k, (reference, estimate, mixture) in enumerate(items):
        item = {
            "id": f"item_{k:03d}",
            "mixture": str(write_audio(folder / f"mixture_{k:03d}.wav", mixture, SR, subtype="FLOAT")),
            "references": {"speech": str(write_audio(folder / f"clean_{k:03d}.wav", reference, SR, "FLOAT"))},
            "estimates": {"speech": str(write_audio(folder / f"estimate_{k:03d}.wav", estimate, SR, "FLOAT"))},
        }
        paths.append(item)
    return paths


def _cpu_of_process_and_children() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _rule_path_in_child(file_items: list, workers: int, use_dnsmos: bool, connection) -> None:
    with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):
        cpu, start = _cpu_of_process_and_children(), time.perf_counter()
        evaluate_items(file_items, "speech", SR, workers, dnsmos=use_dnsmos)
        wall = time.perf_counter() - start  # the pool's workers have exited: their CPU is counted
        connection.send((len(file_items) / wall, (_cpu_of_process_and_children() - cpu) / len(file_items)))


def rule_path(file_items: list, workers: int, use_dnsmos: bool, repeats: int) -> list:
    """[(items per second, CPU seconds per item)] of evaluate_items, each repeat in a fresh
    process (forked from this one, so the modules are imported, as in the rule's script)."""
    context = multiprocessing.get_context("fork")
    runs = []
    for _ in range(repeats):
        receive, send = context.Pipe(duplex=False)
        child = context.Process(target=_rule_path_in_child, args=(file_items, workers, use_dnsmos, send))
        child.start()
        runs.append(receive.recv())
        child.join()
    return runs


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown CPU"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--repeats", type=int, default=2, help="timed runs of each row; the table shows the median")
    parser.add_argument("--no-dnsmos", dest="dnsmos", action="store_false")
    args = parser.parse_args()
    load_before = os.getloadavg()
    items = demo_items(args.items, args.seconds)
    with tempfile.TemporaryDirectory() as folder:
        file_items = write_items(items, Path(folder))
        plan = {
            "raw package calls, 1 process": lambda: warm_pool(items, 1, True, args.dnsmos, args.repeats, direct=True),
            "speech_metrics, 1 process": lambda: warm_pool(items, 1, True, args.dnsmos, args.repeats),
            "speech_metrics, 2 processes": lambda: warm_pool(items, 2, True, args.dnsmos, args.repeats),
            "speech_metrics, 2 processes, threads not pinned": lambda: warm_pool(
                items, 2, False, args.dnsmos, args.repeats
            ),
            "evaluate_items (rule path, cold), 1 process": lambda: rule_path(file_items, 1, args.dnsmos, args.repeats),
            "evaluate_items (rule path, cold), 2 processes": lambda: rule_path(
                file_items, 2, args.dnsmos, args.repeats
            ),
        }
        runs = {}
        for name, measure in plan.items():
            runs[name] = measure()  # each row as it ends, in case the run is cut short
            print(name, [f"{rate:.3f} items/s, {cpu:.3f} CPU s/item" for rate, cpu in runs[name]], file=sys.stderr)
    medians = {
        name: tuple(statistics.median(run[i] for run in repeats) for i in (0, 1)) for name, repeats in runs.items()
    }
    raw_rate, raw_cpu = medians["raw package calls, 1 process"]
    rows = []
    for name, (rate, cpu) in medians.items():
        one_rate, one_cpu = medians[name.replace("2 processes", "1 process").replace(", threads not pinned", "")]
        rates = [run[0] for run in runs[name]]
        over_raw = f"{raw_rate / rate - 1:+.1%}" if "1 process" in name else ""
        rows.append([name, rate, f"{min(rates):.3f}-{max(rates):.3f}", rate / one_rate, over_raw, cpu, cpu / one_cpu])
    headers = ["run", "items/s", "range", "x 1 process", "wall over raw", "CPU s/item", "CPU x 1 process"]
    print(
        f"{args.items} items of {args.seconds:g} s, DNSMOS {'on' if args.dnsmos else 'off'}, median of "
        f"{args.repeats} runs; {cpu_model()}, {os.cpu_count()} CPUs, this process on CPUs "
        f"{sorted(os.sched_getaffinity(0))}; load average {load_before[0]:.2f} before, {os.getloadavg()[0]:.2f} after"
    )
    print(tabulate(rows, headers=headers, floatfmt=".3f"))
    for path in ("speech_metrics", "evaluate_items (rule path, cold)"):
        two, one = medians[f"{path}, 2 processes"][0], medians[f"{path}, 1 process"][0]
        print(
            f"{path}: {one:.3f} items/s at 1 process, {two:.3f} at 2, {two / one:.2f}x (target {SPEED_UP_TARGET}x); "
            f"{raw_rate / one - 1:+.1%} wall time over the raw calls' {raw_rate:.3f} items/s, "
            f"{medians[f'{path}, 1 process'][1] / raw_cpu - 1:+.1%} CPU time (target at most {OVERHEAD_TARGET:+.0%})"
        )


if __name__ == "__main__":
    main()
