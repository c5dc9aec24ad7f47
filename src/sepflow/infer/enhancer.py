"""An experiment's enhancer: a function from noisy (channels, samples) audio to enhanced audio,
backed by a trained checkpoint or by a baseline."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from sepflow.errors import SepflowError
from sepflow.infer.baselines import build_baseline
from sepflow.infer.offline import enhance_waveform
from sepflow.train.checkpoint import load_model
from sepflow.train.device import make_accelerator


def load_enhancer(experiment: dict, sample_rate: int, model_path: str | None, device: str = "auto",
                  ) -> Callable[[np.ndarray], np.ndarray]:
    """`experiment` holds `baseline` (+ `args`) or comes with a trained `model_path`; the
    `enhance` section sets the chunk and overlap of long files, in seconds."""
    if experiment.get("baseline"):
        return build_baseline(experiment["baseline"], sample_rate, **(experiment.get("args") or {}))
    torch_device = make_accelerator(device, mixed_precision=False).device
    model, ckpt = load_model(model_path, torch_device)
    if ckpt["sample_rate"] != sample_rate:
        raise SepflowError(f"{model_path} was trained at {ckpt['sample_rate']} Hz but the test set is {sample_rate} Hz.")
    opts = experiment.get("enhance") or {}
    chunk = round(opts.get("chunk_seconds", 30.0) * sample_rate)
    overlap = round(opts.get("overlap_seconds", 1.0) * sample_rate)
    return lambda audio: enhance_waveform(model, audio, chunk, overlap, torch_device)
