"""Small pieces shared by the speech models.

Every model must return exactly as many samples as it was given, while U-Nets only accept
lengths their down/up-sampling can undo. The helpers here put a waveform in the
(batch, 1, time) layout and zero-pad it to such a length; the model crops afterwards.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def as_mono_batch(x: torch.Tensor) -> torch.Tensor:
    """View a (batch, time) or (batch, 1, time) waveform as (batch, 1, time)."""
    if x.dim() == 2:
        return x.unsqueeze(1)
    if x.dim() != 3 or x.shape[1] != 1:
        raise ValueError(
            f"expected a mono waveform batch (batch, 1, time) or (batch, time), got shape {tuple(x.shape)}"
        )
    return x


def ceil_div(a: int, b: int) -> int:
    """ceil(a / b) for integers, b > 0. Written as one floor division of a + b - 1: exported to ONNX,
    `-(-a // b)` becomes a truncating Div of a negative number, and math.ceil a Ceil of an int."""
    return (a + b - 1) // b


def pad_to_multiple(x: torch.Tensor, multiple: int, dim: int = -1, minimum: int = 0) -> torch.Tensor:
    """Zero-pad `dim` at the end to the next multiple of `multiple` that is at least `minimum`."""
    length = max(x.shape[dim], minimum)
    target = ceil_div(length, multiple) * multiple
    extra = target - x.shape[dim]
    if extra == 0:
        return x
    dim = dim % x.dim()
    # F.pad lists (left, right) pairs starting from the last dimension.
    pads = [0, 0] * (x.dim() - 1 - dim) + [0, extra]
    return F.pad(x, pads)
