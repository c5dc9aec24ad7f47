"""Model facts for the report: parameter count and real-time factor.

The real-time factor is measured here, not read from the enhance job's benchmark, because
that wall time includes starting Python, loading the model and reading and writing files,
which on a short test set outweighs the model. Measured on the CPU at one thread (the
setting every machine can reproduce): seconds of compute per second of audio, the best of
a few runs after a warm-up, on noise at the checkpoint's rate and channel count.
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
def seconds_per_second(model: torch.nn.Module, audio: torch.Tensor, sample_rate: int, runs: int) -> float:
    """Best-of-`runs` compute time of `audio` (batch, channels, time) through `model`, over
    its duration, after a half-second warm-up (first-call allocations); the benchmarks share it."""
    model(audio[..., : sample_rate // 2])
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        model(audio)
        times.append(time.perf_counter() - start)
    return min(times) / (audio.shape[-1] / sample_rate)


def real_time_factor(
    model: torch.nn.Module, sample_rate: int, channels: int, seconds: float = RTF_SECONDS, runs: int = RTF_RUNS
) -> float:
    """Real-time factor on `seconds` of noise at 1 thread (the setting every machine can reproduce)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        audio = 0.1 * torch.randn(1, channels, round(seconds * sample_rate), generator=torch.Generator().manual_seed(0))
        return seconds_per_second(model, audio, sample_rate, runs)
    finally:
        torch.set_num_threads(threads)


def model_facts(checkpoints: dict[str, str | os.PathLike]) -> dict[str, dict[str, float]]:
    """{experiment: {"parameters": trainable parameters, "rtf": real-time factor}}."""
    facts = {}
    for experiment, path in checkpoints.items():
        model, ckpt = load_model(path, "cpu")
        facts[experiment] = {
            "parameters": count_parameters(model),
            "rtf": real_time_factor(model, ckpt["sample_rate"], ckpt["channels"]),
        }
    return facts
