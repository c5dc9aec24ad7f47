"""System facts for the report: parameter count and real-time factor.

The real-time factor is measured here, not read from the enhance job's benchmark, because
that wall time includes starting Python, loading the model and reading and writing files,
which on a short test set outweighs the model. Measured on the CPU at one thread (the
setting every machine can reproduce): seconds of compute per second of audio, the best of
a few runs after a warm-up, on noise at the checkpoint's rate and channel count (for another
toolkit's enhancer, `separator_rtf`: a mono mixture at the test set's rate, its resampling in
and out included, as the pipeline runs it).
"""

from __future__ import annotations

import os
import time

import torch

from sepflow.models import count_parameters
from sepflow.models.checkpoint import load_model

RTF_SECONDS = 4.0
RTF_RUNS = 3


@torch.inference_mode()
def seconds_per_second(model, audio, sample_rate: int, runs: int) -> float:
    """Best-of-`runs` compute time of `audio` through `model` (a module on (batch, channels,
    time), or a separator on (channels, time)), over its duration, after a half-second warm-up
    (first-call allocations); the benchmarks share it."""
    model(audio[..., : sample_rate // 2])
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        model(audio)
        times.append(time.perf_counter() - start)
    return min(times) / (audio.shape[-1] / sample_rate)


def _noise(shape: tuple[int, ...]) -> torch.Tensor:
    return 0.1 * torch.randn(*shape, generator=torch.Generator().manual_seed(0))


def _one_thread(measure):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return measure()
    finally:
        torch.set_num_threads(threads)


def real_time_factor(
    model: torch.nn.Module, sample_rate: int, channels: int, seconds: float = RTF_SECONDS, runs: int = RTF_RUNS
) -> float:
    """Real-time factor on `seconds` of noise at 1 thread (the setting every machine can reproduce)."""
    audio = _noise((1, channels, round(seconds * sample_rate)))
    return _one_thread(lambda: seconds_per_second(model, audio, sample_rate, runs))


def separator_rtf(separator, sample_rate: int, seconds: float = RTF_SECONDS, runs: int = RTF_RUNS) -> float:
    """Real-time factor of a separator on (channels, time) numpy audio, on mono noise at 1 thread."""
    audio = _noise((1, round(seconds * sample_rate))).numpy()
    return _one_thread(lambda: seconds_per_second(separator, audio, sample_rate, runs))


def checkpoint_facts(path: str | os.PathLike) -> dict[str, float]:
    """{"parameters": trainable parameters, "rtf": real-time factor} of a model checkpoint."""
    model, ckpt = load_model(path, "cpu")
    return {
        "parameters": count_parameters(model),
        "rtf": real_time_factor(model, ckpt["sample_rate"], ckpt["channels"]),
    }
