"""Speech-metric throughput: items per second for 1 and 2 worker processes, and the overhead
of `speech_metrics` over calling the metric packages directly.

    python benchmarks/evaluate.py [--items 24] [--seconds 3] [--no-dnsmos]

Items are demo-like: 3 s cut from the PESQ test speech at random offsets and levels, in
white, pink, hum or machinery noise at -5 to 5 dB SNR, with an estimate that keeps 30 % of
the noise. Every pool starts its workers with `single_thread_worker` (one thread per
numerical library) and scores one item in each before timing; the last row runs 2 workers
without it, as evaluation did before. "raw" scores the same items in one worker with the
packages called directly (pesq, pystoi, the composite distances, speechmos' DNSMOS).

On a machine shared with other jobs, wall-time speed-ups say little: with Linux's autogroup
scheduling all processes of one session share one session's CPU share, so a second worker
gains nothing while other sessions are busy. The CPU seconds per item (all threads of the
workers) do not depend on the load: they stay flat from 1 to 2 pinned workers, which is
what lets free cores give a linear speed-up, and grow when thread pools oversubscribe.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pesq as pesq_package
from pystoi import stoi as pystoi
from tabulate import tabulate

from sepflow.audio import mix_at_snr, read_audio, si_snr
from sepflow.data.demo.noise import make_noise
from sepflow.metrics import composite, dnsmos
from sepflow.metrics.speech import speech_metrics
from sepflow.metrics.threads import single_thread_worker

SR = 16000
SPEECH = Path(__file__).resolve().parents[1] / "tests" / "data" / "pesq" / "speech.wav"
NOISES = ("white", "pink", "hum", "machinery")


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
        **composite.combine(wb, **composite.distances(reference, estimate, SR)),
    }
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


def measure(items: list, workers: int, pin: bool, use_dnsmos: bool, direct: bool = False) -> tuple[float, float]:
    """(items per second of wall time, CPU seconds per item summed over the workers)."""
    context = multiprocessing.get_context("fork")
    pool = ProcessPoolExecutor(
        workers,
        mp_context=context,
        initializer=_warm_worker,
        initargs=(pin, items[0], use_dnsmos, context.Barrier(workers)),
    )
    with pool:
        list(pool.map(_wait_for_all_workers, range(workers)))
        start = time.perf_counter()
        if direct:
            cpu = pool.submit(_raw_cpu_seconds, items, use_dnsmos).result()
        else:
            cpu = sum(pool.map(cpu_seconds, items, [use_dnsmos] * len(items)))
        return len(items) / (time.perf_counter() - start), cpu / len(items)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=24)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--no-dnsmos", dest="dnsmos", action="store_false")
    args = parser.parse_args()
    items = demo_items(args.items, args.seconds)
    runs = {
        "raw package calls, 1 process": measure(items, 1, True, args.dnsmos, direct=True),
        "speech_metrics, 1 process": measure(items, 1, True, args.dnsmos),
        "speech_metrics, 2 processes": measure(items, 2, True, args.dnsmos),
        "speech_metrics, 2 processes, threads not pinned": measure(items, 2, False, args.dnsmos),
    }
    one_rate, one_cpu = runs["speech_metrics, 1 process"]
    rows = [[name, rate, rate / one_rate, cpu, cpu / one_cpu] for name, (rate, cpu) in runs.items()]
    raw_rate, raw_cpu = runs["raw package calls, 1 process"]
    print(
        f"{args.items} items of {args.seconds:g} s, DNSMOS {'on' if args.dnsmos else 'off'}, "
        f"{platform.processor() or platform.machine()}, {multiprocessing.cpu_count()} CPUs"
    )
    print(tabulate(rows, headers=["run", "items/s", "x 1 process", "CPU s/item", "CPU x 1 process"], floatfmt=".3f"))
    print(
        f"overhead of speech_metrics over the raw calls: {raw_rate / one_rate - 1:+.1%} wall time, "
        f"{one_cpu / raw_cpu - 1:+.1%} CPU time; load average {os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()
