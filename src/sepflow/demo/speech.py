"""Clean speech from eSpeak NG (the `espeakng-loader` wheel), deterministic per utterance.

Synthesis runs in a small helper process (espeak_server.py, one per Python process, started
on first use) that forks a fresh eSpeak state for every utterance; its docstring says why.
The result depends only on (text, speaker, seed), not on what was synthesized before, which
keeps the corpus independent of item order and worker count. Needs `os.fork` (Linux, macOS).
Use it from one thread per process.
"""

from __future__ import annotations

import functools
import json
import os
import struct
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import espeakng_loader
import numpy as np

from sepflow.audio import resample
from sepflow.errors import SepflowError

ESPEAK_SAMPLE_RATE = 22050
SERVER_SCRIPT = Path(__file__).with_name("espeak_server.py")
_OK, _NO_VOICE = 0, 1  # status codes of espeak_server.py

# English accents eSpeak NG ships (lang/gmw/*); each speaker picks one.
ACCENTS = ("en", "en-us", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-us-nyc", "en-gb-x-gbclan")


@dataclass(frozen=True)
class Speaker:
    """One synthetic talker: accent, voice variant (timbre) and prosody settings.

    rate is in words per minute (80..450); pitch and pitch_range are eSpeak's 0..100 scales.
    """

    accent: str
    variant: str
    rate: int
    pitch: int
    pitch_range: int

    @property
    def name(self) -> str:
        return f"{self.accent}+{self.variant}_r{self.rate}_p{self.pitch}_g{self.pitch_range}"


class _Server:
    """A running espeak_server.py owned by the current process."""

    def __init__(self) -> None:
        self.owner = os.getpid()
        self.process = subprocess.Popen(
            [sys.executable, str(SERVER_SCRIPT)], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        header = self.process.stdout.read(4)
        rate = struct.unpack("<i", header)[0] if len(header) == 4 else -1
        if rate != ESPEAK_SAMPLE_RATE:
            raise SepflowError(
                f"eSpeak NG failed to start (sample rate {rate}); reinstall espeakng-loader in this environment."
            )

    def request(self, payload: dict) -> tuple[int, bytes]:
        body = json.dumps(payload).encode("utf-8")
        try:
            self.process.stdin.write(struct.pack("<I", len(body)) + body)
            self.process.stdin.flush()
            header = self.process.stdout.read(8)
            status, size = struct.unpack("<iI", header)
            return status, self.process.stdout.read(size)
        except (OSError, struct.error):
            raise SepflowError("the eSpeak NG helper process died; see its message above.") from None

    def release(self) -> None:
        """Drop pipes inherited from a parent process without disturbing the parent's server."""
        self.process.stdin.close()
        self.process.stdout.close()


_server: _Server | None = None


def _get_server() -> _Server:
    global _server
    if _server is not None and _server.owner != os.getpid():  # we are a forked worker
        _server.release()
        _server = None
    if _server is None:
        _server = _Server()
    return _server


@functools.cache
def _variant_names() -> tuple[str, ...]:
    return tuple(sorted(p.name for p in (Path(espeakng_loader.get_data_path()) / "voices" / "!v").iterdir()))


def voice_variants() -> list[str]:
    """Names of the voice variants (timbres) that ship with the wheel, sorted."""
    return list(_variant_names())


def synthesize_speech(text: str, speaker: Speaker, sample_rate: int, seed: int = 0) -> np.ndarray:
    """Speak `text` as float32 mono at `sample_rate`; the same arguments give the same samples."""
    if speaker.variant not in _variant_names():  # eSpeak would silently fall back to its default
        raise SepflowError(f"eSpeak NG has no voice variant {speaker.variant!r}; use one of voice_variants().")
    status, samples = _get_server().request(
        {
            "text": text,
            "voice": f"{speaker.accent}+{speaker.variant}",
            "rate": speaker.rate,
            "pitch": speaker.pitch,
            "range": speaker.pitch_range,
            "seed": seed,
        }
    )
    if status == _NO_VOICE:
        raise SepflowError(f"eSpeak NG has no language {speaker.accent!r}; use one of {ACCENTS}.")
    if status != _OK:
        raise SepflowError(f"eSpeak NG failed to synthesize {text!r} with {speaker.name}.")
    audio = np.frombuffer(samples, dtype="<i2").astype(np.float32) / 32768.0
    return resample(audio, ESPEAK_SAMPLE_RATE, sample_rate)
