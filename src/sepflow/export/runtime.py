"""An export folder run by ONNX Runtime: the streaming protocol over its stream graphs, and
a separator over its offline graph or its stream, as the pipeline's enhance step calls one.

The host's side of the stream is here (and, without sepflow, in deploy/stream.py): cut the
input into hops, carry the state from each call to the next, drop the first `delay` output
samples, and end the signal as the export says (hops of zeros, or a `flush` block).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from sepflow.errors import SepflowError

MANIFEST = "export.json"


def read_export(folder: str | os.PathLike) -> dict:
    """The export's description (export.json); one line when the folder is not an export."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise SepflowError(
            f"{folder} is not a sepflow export (no {MANIFEST}); make one with: sepflow export MODEL.pt DIR"
        )
    return json.loads(path.read_text())


def is_export(path: str | os.PathLike) -> bool:
    return (Path(path) / MANIFEST).is_file()


def session(path: str | os.PathLike, threads: int = 1):
    """An ONNX Runtime CPU session on `threads` threads (1: no thread pool, as streaming wants)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class OnnxOffline:
    """(batch, channels, time) float32 -> (batch, sources, channels, time) through offline.onnx."""

    def __init__(self, folder: str | os.PathLike, threads: int = 1):
        info = read_export(folder)
        if info["offline"]["graph"] is None:
            raise SepflowError(f"{folder} has no offline graph: {info['offline']['why']}")
        self._session = session(Path(folder) / info["offline"]["graph"], threads)
        self.min_length = info["offline"]["min_length"]

    def __call__(self, audio: np.ndarray) -> np.ndarray:
        if audio.shape[-1] < self.min_length:
            raise SepflowError(f"the offline graph takes at least {self.min_length} samples, got {audio.shape[-1]}")
        return self._session.run(None, {"audio": np.ascontiguousarray(audio, dtype=np.float32)})[0]


class OnnxStreamer:
    """The streaming protocol (sepflow.models.streaming) over an export's stream graphs:
    `feed` (channels, n) chunks of any size, `flush` at the end; torch tensors out."""

    def __init__(self, folder: str | os.PathLike, threads: int = 1):
        info = read_export(folder)
        spec = info["stream"]
        if spec is None:
            raise SepflowError(f"{folder} has no stream graph: {info['stream_why']}")
        self._folder, self._threads, self._spec = Path(folder), threads, spec
        self._channels = info["channels"]
        self._graphs = {kind: session(self._folder / name, threads) for kind, name in spec["graphs"].items() if name}
        self._offline = None
        self.hop, self.latency, self.first_hop = spec["hop"], spec["latency"], spec["first_hop"]
        self.reset()

    def reset(self) -> None:
        self._pending = np.zeros((self._channels, 0), dtype=np.float32)
        dtypes = {"float32": np.float32, "float64": np.float64}
        self._state = [np.zeros(s["shape"], dtypes[s["dtype"]]) for s in self._spec["states"]]
        self._started = False
        self._to_drop = self._spec["delay"]
        self._fed = self._emitted = 0

    def _run(self, kind: str, block: np.ndarray, valid: int) -> np.ndarray:
        feeds = {"audio": block}
        if self._spec["valid"]:
            feeds["valid"] = np.array(valid, dtype=np.int64)
        if kind != "first":
            feeds.update((s["input"], x) for s, x in zip(self._spec["states"], self._state))
        out, *self._state = self._graphs[kind].run(None, feeds)
        self._started = True
        drop = min(self._to_drop, out.shape[1])
        self._to_drop -= drop
        return out[:, drop:]

    def _hops(self) -> list[np.ndarray]:
        outs = []
        while True:
            first = not self._started and "first" in self._graphs
            need = self.first_hop if first else self.hop
            if self._pending.shape[1] < need:
                return outs
            block, self._pending = self._pending[:, :need], self._pending[:, need:]
            outs.append(self._run("first" if first else "hop", block, need))

    def _out(self, outs: list[np.ndarray]) -> torch.Tensor:
        out = np.concatenate([np.zeros((self._channels, 0), np.float32), *outs], axis=1)
        self._emitted += out.shape[1]
        return torch.from_numpy(out)

    def feed(self, chunk) -> torch.Tensor:
        """(channels, n) or (n,) more input -> (channels, m) output now determined."""
        chunk = np.asarray(chunk, dtype=np.float32).reshape(self._channels, -1)
        self._pending = np.concatenate([self._pending, chunk], axis=1)
        self._fed += chunk.shape[1]
        return self._out(self._hops())

    def flush(self) -> torch.Tensor:
        """End the signal as the PyTorch streamer does; the rest of the output; then reset."""
        missing, pending = self._fed - self._emitted, self._pending
        outs = []
        if not self._started and "first" in self._graphs:
            # Shorter than the first hop: one final block over the whole signal, which is what
            # the offline graph computes.
            if pending.shape[1]:
                self._offline = self._offline or OnnxOffline(self._folder, self._threads)
                outs.append(self._offline(pending[None])[0, 0])
        elif self._spec["flush_block"] is None:  # hops of zeros until every input sample has its output
            self._pending = np.pad(pending, ((0, 0), (0, -pending.shape[1] % self.hop)))
            while sum(o.shape[1] for o in outs) < missing:
                outs += self._hops()
                self._pending = np.zeros((self._channels, self.hop), np.float32)
        else:
            block, valid = self._spec["flush_block"], pending.shape[1]
            if valid > block:  # the final block is a hop longer: that hop first, then the block of zeros
                outs.append(self._run("hop", np.pad(pending, ((0, 0), (0, self.hop - valid))), valid))
                pending, valid = pending[:, :0], 0
            outs.append(self._run("flush", np.pad(pending, ((0, 0), (0, block - pending.shape[1]))), valid))
        out = self._out(outs)[:, :missing]
        self.reset()
        return out


def load_onnx_separator(
    export_dir: str | os.PathLike,
    streaming: bool,
    channel_mode: str = "per_channel",
    chunk_seconds: float = 30.0,
    overlap_seconds: float = 1.0,
    stream_chunk: int | None = None,
    threads: int = 1,
) -> Callable[[np.ndarray], np.ndarray]:
    """A separator over an export folder: (channels, T) float32 at the export's rate ->
    (sources, channels, T). Offline: the offline graph in chunks of `chunk_seconds`
    cross-faded over `overlap_seconds` (as the PyTorch offline path); streaming: the stream
    graphs fed `stream_chunk` samples at a time (a hop by default), on `threads` threads."""
    from sepflow.infer.offline import model_batch, overlap_add
    from sepflow.models.streaming import stream

    info = read_export(export_dir)
    rate, sources, channels = info["sample_rate"], info["sources"], info["channels"]
    if streaming:
        streamer = OnnxStreamer(export_dir, threads)
        if len(sources) != 1:
            raise SepflowError(f"streaming runs single-source models; {export_dir} estimates {sources}. Drop --stream.")
        chunk = stream_chunk or streamer.hop

        def apply(piece: torch.Tensor) -> torch.Tensor:
            batch, unshape = model_batch(piece, channels, channel_mode)
            return unshape(torch.stack([stream(streamer, b, chunk) for b in batch])[:, None])

        chunk_samples, overlap = None, 0
    else:
        offline = OnnxOffline(export_dir, threads)

        def apply(piece: torch.Tensor) -> torch.Tensor:
            batch, unshape = model_batch(piece, channels, channel_mode)
            return unshape(torch.from_numpy(offline(batch.numpy())))

        if chunk_seconds <= 0:
            raise SepflowError(f"--chunk-seconds must be positive, got {chunk_seconds}")
        chunk_samples, overlap = round(chunk_seconds * rate), round(overlap_seconds * rate)

    def separate(audio: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))
        if chunk_samples is None:
            return apply(x).numpy()
        return overlap_add(apply, x, chunk_samples, overlap).numpy()

    separate.sample_rate, separate.sources = rate, list(sources)
    return separate
