"""Where a job runs: one Accelerator decides, so training and inference agree on the device."""

from __future__ import annotations

import torch
from accelerate import Accelerator

from sepflow.errors import SepflowError


def make_accelerator(device: str, mixed_precision: bool) -> Accelerator:
    """device: 'auto' (CUDA when present), 'cpu' or 'cuda'; fp16 autocast only on CUDA."""
    if device not in ("auto", "cpu", "cuda"):
        raise SepflowError(f"device must be auto, cpu or cuda, got {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise SepflowError("device: cuda was asked for but no CUDA GPU is visible; set device: auto or cpu.")
    use_cuda = device != "cpu" and torch.cuda.is_available()
    return Accelerator(cpu=not use_cuda, mixed_precision="fp16" if use_cuda and mixed_precision else "no")
