"""DNSMOS P.835 (Reddy et al. 2022): non-intrusive SIG, BAK and OVRL ratings from 1 to 5.

The ONNX models and their polynomial calibration come from Microsoft's `speechmos` wheel,
whose `DNSMOS` class does the scoring: 9.01 s windows with a 1 s hop, averaged, and clips
shorter than 9.01 s repeated to that length. Here its ONNX sessions run on one thread by
default: onnxruntime's default spreads every session over all cores, which makes parallel
workers slower than one, and its thread pools do not survive a fork (a process that scored
with a multi-threaded session and then forks evaluation workers hangs in them).
Parallelism comes from worker processes (sepflow.metrics.evaluate).
"""

from __future__ import annotations

import importlib
from importlib.metadata import version
from pathlib import Path

import numpy as np
import onnxruntime
from speechmos import dnsmos as _speechmos

from sepflow.audio import resample

DNSMOS_RATE = 16000
"""The models were trained on 16 kHz audio; other rates are resampled first."""
DNSMOS_MODEL = f"DNSMOS P.835 sig_bak_ovr.onnx, speechmos {version('speechmos')}"
"""What produced the DNSMOS columns, for the provenance of a table."""

_MODELS = Path(_speechmos.__file__).parent / "dnsmos_models"
_threads = 1
_scorer: _speechmos.DNSMOS | None = None


def set_threads(threads: int) -> None:
    """Run the ONNX models on this many threads from now on (0: onnxruntime's default)."""
    global _threads, _scorer
    if threads != _threads:
        _threads, _scorer = threads, None


class _Scorer(_speechmos.DNSMOS):
    """speechmos' DNSMOS with sessions on a set number of CPU threads."""

    def __init__(self, threads: int) -> None:
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1 if threads else 0
        cpu = ["CPUExecutionProvider"]
        self.primary_model_path = str(_MODELS / "sig_bak_ovr.onnx")
        self.onnx_sess = onnxruntime.InferenceSession(self.primary_model_path, options, providers=cpu)
        self.p808_onnx_sess = onnxruntime.InferenceSession(str(_MODELS / "model_v8.onnx"), options, providers=cpu)


def load_libraries() -> None:
    """Import now what the first rating would: speechmos' mel spectrogram is librosa's, which
    loads its modules lazily, seconds of imports (scipy.signal, numba's cached functions).
    Evaluation calls this before it forks its workers, so they share them instead of each
    importing them again."""
    importlib.import_module("librosa.feature.spectral")


def dnsmos(audio: np.ndarray, sample_rate: int) -> dict[str, float]:
    """DNSMOS ratings {dnsmos_sig, dnsmos_bak, dnsmos_ovrl} of a 1-D signal.

    Samples beyond full scale are clipped to [-1, 1], as writing the estimate to a PCM file
    would do; the models take raw waveforms at their level.
    """
    global _scorer
    if _scorer is None:
        _scorer = _Scorer(_threads)
    audio = np.clip(resample(np.asarray(audio, dtype=np.float32).reshape(-1), sample_rate, DNSMOS_RATE), -1.0, 1.0)
    scores = _scorer(audio, DNSMOS_RATE, False)
    return {
        "dnsmos_sig": float(scores["sig_mos"]),
        "dnsmos_bak": float(scores["bak_mos"]),
        "dnsmos_ovrl": float(scores["ovrl_mos"]),
    }
