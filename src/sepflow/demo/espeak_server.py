"""A tiny eSpeak NG synthesis server, run as a script by speech.py (never imported by it).

Why a separate process: eSpeak NG keeps state between utterances that no API call resets
(static pitch-flutter and phase counters in its waveform generator, echo buffers), so the
same sentence comes out slightly different depending on what was spoken before. This server
initializes the library once and then forks a child per request; every child starts from
the same pristine state, synthesizes, writes its samples to stdout and exits. The engine's
noise generator (breath, Klatt voices) is seeded from the clock at start-up, so each child
also reseeds it from the request. The server imports only the standard library and
espeakng_loader, so it stays small and a fork costs well under a millisecond.

Protocol on stdin/stdout (little-endian): on start the server writes int32 sample rate
(or -1). Each request is uint32 length + UTF-8 JSON {text, voice, rate, pitch, range, seed};
each reply is int32 status + uint32 byte count + int16 samples.
"""

import ctypes
import json
import os
import struct
import sys
from pathlib import Path

import espeakng_loader

OK, NO_VOICE, SYNTH_FAILED, CRASHED = range(4)

# speak_lib.h constants
AUDIO_OUTPUT_SYNCHRONOUS = 2
POS_CHARACTER = 1
CHARS_UTF8 = 1
PARAM_RATE, PARAM_PITCH, PARAM_RANGE = 1, 3, 4
SYNTH_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


def load_library() -> tuple[ctypes.CDLL, int]:
    """The library with argument types declared, initialized for synchronous retrieval."""
    lib = ctypes.CDLL(espeakng_loader.get_library_path())
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
    lib.espeak_Synth.argtypes = [
        ctypes.c_char_p,
        ctypes.c_size_t,
        ctypes.c_uint,
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.c_uint,
        ctypes.c_void_p,
        ctypes.c_void_p,
    ]
    data_parent = Path(espeakng_loader.get_data_path()).parent  # eSpeak wants the folder holding espeak-ng-data
    rate = lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, str(data_parent).encode(), 0)
    return lib, rate


def synthesize(lib: ctypes.CDLL, request: dict) -> tuple[int, bytes]:
    """Run one request in this (forked) process: (status, int16 sample bytes)."""
    chunks: list[bytes] = []

    def collect(wav, n, _events):
        if wav and n > 0:
            chunks.append(ctypes.string_at(wav, 2 * n))
        return 0

    callback = SYNTH_CALLBACK(collect)
    lib.espeak_SetSynthCallback(callback)
    if lib.espeak_SetVoiceByName(request["voice"].encode()) != 0:
        return NO_VOICE, b""
    for param, key in ((PARAM_RATE, "rate"), (PARAM_PITCH, "pitch"), (PARAM_RANGE, "range")):
        lib.espeak_SetParameter(param, int(request[key]), 0)
    lib.espeak_ng_SetRandSeed(int(request["seed"]) & 0x7FFFFFFF)
    raw = request["text"].encode("utf-8") + b"\0"
    if lib.espeak_Synth(raw, len(raw), 0, POS_CHARACTER, 0, CHARS_UTF8, None, None) != 0:
        return SYNTH_FAILED, b""
    lib.espeak_Synchronize()
    return OK, b"".join(chunks)


def reply(out, status: int, payload: bytes = b"") -> None:
    out.write(struct.pack("<iI", status, len(payload)) + payload)
    out.flush()


def serve() -> None:
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    lib, rate = load_library()
    if rate > 0:
        lib.espeak_SetVoiceByName(b"en")  # load the English dictionary once, before any fork
    stdout.write(struct.pack("<i", rate))
    stdout.flush()
    while len(header := stdin.read(4)) == 4:
        request = json.loads(stdin.read(struct.unpack("<I", header)[0]))
        pid = os.fork()
        if pid == 0:
            status, payload = CRASHED, b""
            try:
                status, payload = synthesize(lib, request)
            finally:
                reply(stdout, status, payload)
                os._exit(0)
        _, wait_status = os.waitpid(pid, 0)
        if os.WIFSIGNALED(wait_status):  # the child died before it could answer
            reply(stdout, CRASHED)


if __name__ == "__main__":
    serve()
