"""An experiment's separator: a function from a mixture (channels, samples) to its sources'
estimates (sources, channels, samples), backed by a trained checkpoint or by a baseline."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from sepflow.audio.pcs import PCS_RATE, pcs400
from sepflow.device import make_accelerator
from sepflow.errors import SepflowError
from sepflow.infer.baselines import build_baseline
from sepflow.infer.offline import separate
from sepflow.models.checkpoint import load_model


def load_separator(
    experiment: dict, sample_rate: int, sources: tuple[str, ...], model_path: str | None, device: str = "auto"
) -> Callable[[np.ndarray], np.ndarray]:
    """`experiment` holds `baseline` (+ `args`) or comes with a trained `model_path`; its
    `enhance` section sets the chunk and overlap of long files, in seconds, `channels` how a
    mono model hears multi-channel audio (per_channel or downmix), and `pcs` whether the
    estimate gets PCS400 post-processing (SEMamba's, at 16 kHz)."""
    if experiment.get("baseline"):
        return build_baseline(experiment["baseline"], sample_rate, sources, **(experiment.get("args") or {}))
    torch_device = make_accelerator(device, mixed_precision=False).device
    model, ckpt = load_model(model_path, torch_device)
    if ckpt["sample_rate"] != sample_rate:
        raise SepflowError(
            f"{model_path} was trained at {ckpt['sample_rate']} Hz but the test set is {sample_rate} Hz."
        )
    if tuple(ckpt["sources"]) != tuple(sources):
        raise SepflowError(f"{model_path} estimates {ckpt['sources']} but the test set has sources {list(sources)}.")
    opts = experiment.get("enhance") or {}
    chunk = round(opts.get("chunk_seconds", 30.0) * sample_rate)
    overlap = round(opts.get("overlap_seconds", 1.0) * sample_rate)
    mode = opts.get("channels", "per_channel")
    if opts.get("pcs"):  # SEMamba's perceptual contrast stretching of the estimate
        if sample_rate != PCS_RATE:
            raise SepflowError(f"enhance.pcs works at {PCS_RATE} Hz, the test set is {sample_rate} Hz; drop pcs.")
        return lambda audio: pcs400(
            torch.from_numpy(separate(model, audio, len(sources), ckpt["channels"], chunk, overlap, torch_device, mode))
        ).numpy()
    return lambda audio: separate(model, audio, len(sources), ckpt["channels"], chunk, overlap, torch_device, mode)
