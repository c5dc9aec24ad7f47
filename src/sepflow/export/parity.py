"""How close an exported graph's output is to PyTorch's, and the tolerance an export must meet.

TOLERANCE is on the largest absolute difference relative to the reference's peak. float32
keeps 24 bits (6e-8 relative); a graph that sums in another order (DFT matrices instead of
an FFT, a batch norm fused into its convolution) lands a few units of the last place away,
which we measure at 2e-7 to 6e-7 of the peak. A bug in an export (a state not carried to
the next hop, a shifted tap, a lost bias) moves the output by 1e-3 of the peak or more.
1e-5 sits 20 times above the rounding and 100 times below any such bug.
"""

from __future__ import annotations

import math

import numpy as np

from sepflow.errors import SepflowError

TOLERANCE = 1e-5


def difference(estimate: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    """max_abs: the largest absolute difference; relative: that over the reference's peak;
    si_snr_db: SI-SNR of the estimate against the reference, in dB (None when they are equal)."""
    est = np.asarray(estimate, dtype=np.float64)
    ref = np.asarray(reference, dtype=np.float64)
    if est.shape != ref.shape:
        raise ValueError(f"shapes differ: {est.shape} against {ref.shape}")
    max_abs = float(np.abs(est - ref).max(initial=0.0))
    peak = float(np.abs(ref).max(initial=0.0))
    e, r = (est - est.mean()).ravel(), (ref - ref.mean()).ravel()
    target = (e @ r) / (r @ r) * r if r @ r > 0 else r
    residual = e - target
    identical = residual @ residual == 0
    si_snr = None if identical else float(10 * np.log10((target @ target) / (residual @ residual)))
    relative = 0.0 if max_abs == 0 else max_abs / peak if peak else math.inf
    return {"max_abs": max_abs, "relative": relative, "si_snr_db": si_snr}


def describe(what: str, figures: dict[str, float]) -> str:
    return f"{what}: max abs difference {figures['max_abs']:.3g} ({figures['relative']:.3g} of the peak), " + (
        "identical" if figures["si_snr_db"] is None else f"SI-SNR {figures['si_snr_db']:.1f} dB"
    )


def check(what: str, figures: dict[str, float], where: str) -> None:
    """Refuse an export whose graph differs from PyTorch by more than TOLERANCE."""
    if not figures["relative"] <= TOLERANCE:
        raise SepflowError(
            f"{describe(what, figures)} exceeds the tolerance {TOLERANCE:g} of the peak; nothing was written "
            f"to {where}. Report it with the checkpoint: the exporter changed the model."
        )
