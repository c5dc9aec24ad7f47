"""Run a sepflow streaming export on a WAV file hop by hop, as a live stream would: numpy,
soundfile and onnxruntime only (no sepflow, no torch). Each channel streams on its own.

    python deploy/stream.py EXPORT_DIR IN.wav OUT.wav
"""

import json
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import soundfile as sf


def stream(folder: Path, spec: dict, x: np.ndarray) -> np.ndarray:
    """(1, T) float32 -> (1, T): hop by hop through the graphs, the state carried between calls."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    graphs = {kind: ort.InferenceSession(str(folder / name), options) for kind, name in spec["graphs"].items() if name}
    state = [np.zeros(s["shape"], s["dtype"]) for s in spec["states"]]

    def run(kind: str, block: np.ndarray, valid: int) -> np.ndarray:
        nonlocal state
        feeds = {"audio": block, **({"valid": np.array(valid, np.int64)} if spec["valid"] else {})}
        feeds.update({} if kind == "first" else {s["input"]: v for s, v in zip(spec["states"], state)})
        out, *state = graphs[kind].run(None, feeds)
        return out

    outs, pos, hop, end = [], 0, spec["hop"], spec["flush_block"]
    if "first" in graphs:
        outs, pos = [run("first", x[:, : spec["first_hop"]], spec["first_hop"])], spec["first_hop"]
    while pos + hop <= x.shape[1]:
        outs, pos = outs + [run("hop", x[:, pos : pos + hop], hop)], pos + hop
    rest, pad = x[:, pos:], lambda block, n: np.pad(block, ((0, 0), (0, n - block.shape[1])))
    if end is None:  # the end: hops of zeros until each input sample has its output
        while sum(o.shape[1] for o in outs) < x.shape[1] + spec["delay"]:
            outs, rest = outs + [run("hop", pad(rest, hop), rest.shape[1])], rest[:, :0]
    else:  # the end: a hop more when more than a flush block is pending, then the flush block
        if rest.shape[1] > end:
            outs, rest = outs + [run("hop", pad(rest, hop), rest.shape[1])], rest[:, :0]
        outs.append(run("flush", pad(rest, end), rest.shape[1]))
    return np.concatenate(outs, axis=1)[:, spec["delay"] : spec["delay"] + x.shape[1]]


def main(folder: str, wav_in: str, wav_out: str) -> None:
    export = json.loads((Path(folder) / "export.json").read_text())
    audio, rate = sf.read(wav_in, dtype="float32", always_2d=True)
    if rate != export["sample_rate"]:
        sys.exit(f"{wav_in} is at {rate} Hz but the model runs at {export['sample_rate']} Hz: resample it first")
    if len(audio) < export["stream"]["first_hop"]:
        sys.exit(f"{wav_in} is shorter than the first hop ({export['stream']['first_hop']} samples): use offline.onnx")
    out = [stream(Path(folder), export["stream"], channel[None])[0] for channel in audio.T]
    sf.write(wav_out, np.stack(out, axis=1), rate, subtype="FLOAT")


if __name__ == "__main__":
    main(*sys.argv[1:])
