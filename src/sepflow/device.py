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


def average_gradients(module: torch.nn.Module, accelerator: Accelerator) -> None:
    """Average `module`'s gradients over the training processes. DDP does this itself, but
    only for a backward through the wrapped model's forward; a step that calls the model's
    own methods (SEMamba's analysis/enhance/synthesis in the metric GAN) calls this after
    its backward instead. One process: nothing to do."""
    if accelerator.num_processes == 1:
        return
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    flat = accelerator.reduce(torch.cat([g.flatten() for g in grads]), "mean")
    for grad, mean in zip(grads, flat.split([g.numel() for g in grads])):
        grad.copy_(mean.view_as(grad))
