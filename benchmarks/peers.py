"""Streaming cost of the peers (DeepFilterNet3 and RNNoise through their C runtimes) beside our
streaming models (tcm_unet, causal demucs), side by side in one run at one thread, on noisy
speech (the pesq reference pair's babble item, repeated to --seconds; noise alone would let
DFN3 skip its decoders on frames it judges to hold no speech).

    python benchmarks/peers.py [--seconds 10] [--repeats 3]

Per hop: the time of each hop's call, one hop at a time (a peer's library call on one 10 ms
frame at 48 kHz; a streamer's `feed` of one hop at 16 kHz), median and 90th percentile, and the
same scaled to 10 ms of audio so hops of other lengths compare. Stream RTF = all hops' time /
audio duration. File RTF = a whole 16 kHz file through the system as the pipeline runs it: for a
peer, resampling to 48 kHz and back, a fresh library state and the delay compensation; for our
models, the offline model (best of --repeats). Real-time factor below 1 is faster than real time.
ONNX rows are in benchmarks/export.py.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from tabulate import tabulate

from sepflow.audio import read_audio, resample
from sepflow.infer.speed import seconds_per_second
from sepflow.models import build_model, count_parameters
from sepflow.models.streaming import make_streamer
from sepflow.systems.external.deepfilternet3 import DeepFilterNet3
from sepflow.systems.external.rnnoise import RNNoise

SR = 16000
NOISY_SPEECH = Path(__file__).resolve().parent.parent / "tests" / "data" / "pesq" / "speech_bab_0dB.wav"
PEERS = {"deepfilternet3 (defaults)": DeepFilterNet3, "rnnoise": RNNoise}
MODELS = {
    "tcm_unet demo (tcm_channels 128, tcm_hidden 32)": ("tcm_unet", {"tcm_channels": 128, "tcm_hidden": 32}),
    "tcm_unet reference (defaults)": ("tcm_unet", {}),
    "demucs causal demo (hidden 16, depth 4, resample 2)": (
        "demucs",
        {"hidden": 16, "depth": 4, "resample": 2, "causal": True},
    ),
}


def hop_times(step: Callable[[int], object], starts: range) -> list[float]:
    """Seconds of each hop's call, one call per start."""
    times = []
    for start in starts:
        begin = time.perf_counter()
        step(start)
        times.append(time.perf_counter() - begin)
    return times


def peer_hops(peer, audio: np.ndarray) -> tuple[list[float], int, int]:
    """(per-hop seconds, hop, rate): the library's frame calls on the audio at its rate."""
    signal = np.ascontiguousarray(resample(audio, SR, peer.library_rate)[0])
    out = np.empty(peer.frame, dtype=np.float32)
    with peer.state() as step:
        starts = range(0, signal.size - peer.frame + 1, peer.frame)
        times = hop_times(lambda s: step(signal[s : s + peer.frame], out), starts)
    return times, peer.frame, peer.library_rate


@torch.inference_mode()
def streamer_hops(model: torch.nn.Module, audio: np.ndarray) -> tuple[list[float], int, int]:
    """(per-hop seconds, hop, rate): the streamer's `feed` of one hop at a time after its first."""
    streamer = make_streamer(model)
    signal = torch.from_numpy(audio)
    first = getattr(streamer, "first_hop", streamer.hop)
    streamer.feed(signal[:, :first])
    starts = range(first, signal.shape[-1] - streamer.hop + 1, streamer.hop)
    times = hop_times(lambda s: streamer.feed(signal[:, s : s + streamer.hop]), starts)
    streamer.flush()
    return times, streamer.hop, SR


def row(name: str, params: str, times: list[float], hop: int, rate: int, file_rtf: float) -> dict:
    hop_ms = 1000 * hop / rate
    median, p90 = 1000 * statistics.median(times), 1000 * float(np.percentile(times, 90))
    return {
        "system": name,
        "params (M)": params,
        "hop (ms)": f"{hop_ms:g}",
        "median ms/hop": f"{median:.3f}",
        "p90 ms/hop": f"{p90:.3f}",
        "median ms/10 ms": f"{median * 10 / hop_ms:.3f}",
        "p90 ms/10 ms": f"{p90 * 10 / hop_ms:.3f}",
        "stream RTF": f"{sum(times) / (len(times) * hop / rate):.4f}",
        "file RTF": f"{file_rtf:.4f}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    speech, _ = read_audio(NOISY_SPEECH, expected_sr=SR)
    audio = np.tile(speech, (1, int(np.ceil(args.seconds * SR / speech.shape[-1]))))[:, : round(args.seconds * SR)]
    rows = []
    for name, make in PEERS.items():
        peer = make(SR, ("speech",))
        file_rtf = seconds_per_second(peer, audio, SR, args.repeats)
        rows.append(row(name, "-", *peer_hops(peer, audio), file_rtf))
        print(f"measured {name}", flush=True)
    for name, (model_name, model_args) in MODELS.items():
        model = build_model(model_name, **model_args).eval()
        file_rtf = seconds_per_second(model, torch.from_numpy(audio)[None], SR, args.repeats)
        rows.append(row(name, f"{count_parameters(model) / 1e6:.2f}", *streamer_hops(model, audio), file_rtf))
        print(f"measured {name}", flush=True)
    print(
        f"\n{platform.processor() or platform.machine()}, 1 thread, torch {torch.__version__}, "
        f"{args.seconds:g} s of noisy speech at {SR} Hz (peers run at 48 kHz), file RTF best of {args.repeats}"
    )
    print(tabulate(rows, headers="keys", tablefmt="github"))


if __name__ == "__main__":
    main()
