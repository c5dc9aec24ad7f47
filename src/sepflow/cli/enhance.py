"""`sepflow enhance`: a trained checkpoint over a file or a folder, offline or streaming."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from sepflow.cli.export import export_separator, wants_export
from sepflow.cli.inputs import input_files, output_paths
from sepflow.errors import SepflowError


def _fit_length(audio: np.ndarray, n: int) -> np.ndarray:
    """Cut or zero-pad the last axis to n samples (resampling there and back may be 1 off)."""
    if audio.shape[-1] >= n:
        return audio[..., :n]
    return np.pad(audio, [(0, 0)] * (audio.ndim - 1) + [(0, n - audio.shape[-1])])


def _streaming_separator(model, ckpt: dict, channel_mode: str, chunk_ms: float) -> Callable[[np.ndarray], np.ndarray]:
    """(channels, T) -> (1, channels', T) through the model's streamer, chunk_ms at a time,
    each channel on its own (or the downmix) for a mono model."""
    import torch

    from sepflow.infer.offline import model_batch
    from sepflow.models.streaming import make_streamer, stream

    torch.set_num_threads(1)  # per hop a second thread buys nothing, and stalls on a loaded machine
    streamer = make_streamer(model.cpu())
    if len(ckpt["sources"]) != 1:
        raise SepflowError(
            f"--stream runs single-source models; this checkpoint estimates {ckpt['sources']}. Drop --stream."
        )
    chunk = max(1, round(chunk_ms * ckpt["sample_rate"] / 1000))
    model_channels = ckpt["channels"]

    @torch.inference_mode()
    def run(audio: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))
        batch, unshape = model_batch(x, model_channels, channel_mode)
        return unshape(torch.stack([stream(streamer, b, chunk) for b in batch])[:, None]).numpy()

    return run


def _progress(total_seconds: float, quiet: bool):
    """A tqdm bar over seconds of audio when tqdm is installed, else plain lines."""
    try:
        from tqdm import tqdm
    except ImportError:
        tqdm = None
    if quiet:
        return lambda seconds, name: None, lambda: None
    if tqdm is not None:
        bar = tqdm(total=round(total_seconds, 1), unit="s audio", file=sys.stderr, dynamic_ncols=True)

        def advance(seconds: float, name: str) -> None:
            bar.set_postfix_str(name, refresh=False)
            bar.update(round(seconds, 1))

        return advance, bar.close
    done = [0.0]

    def line(seconds: float, name: str) -> None:
        done[0] += seconds
        print(f"enhanced {name} ({done[0]:.1f}/{total_seconds:.1f} s of audio)", file=sys.stderr, flush=True)

    return line, lambda: None


def _checkpoint_separator(args: argparse.Namespace) -> tuple[Callable[[np.ndarray], np.ndarray], int, list[str]]:
    """(separator, its sample rate, its sources) for a model.pt: its streamer or the model offline."""
    from sepflow.device import make_accelerator
    from sepflow.infer.offline import separate
    from sepflow.models.checkpoint import load_model

    device = make_accelerator(args.device, mixed_precision=False).device
    model, ckpt = load_model(args.checkpoint, device)
    rate, sources = ckpt["sample_rate"], list(ckpt["sources"])
    if args.stream:
        return _streaming_separator(model, ckpt, args.channels, args.stream_chunk_ms), rate, sources
    if args.chunk_seconds <= 0:
        raise SepflowError(f"--chunk-seconds must be positive, got {args.chunk_seconds}")
    chunk, overlap = round(args.chunk_seconds * rate), round(args.overlap_seconds * rate)

    def process(audio: np.ndarray) -> np.ndarray:
        return separate(model, audio, len(sources), ckpt["channels"], chunk, overlap, device, args.channels)

    return process, rate, sources


def enhance(args: argparse.Namespace) -> None:
    from sepflow.audio import read_audio, resample, write_audio
    from sepflow.audio.io import audio_info

    files, root = input_files(Path(args.input))
    if wants_export(args):
        process, rate, sources = export_separator(args)
    else:
        process, rate, sources = _checkpoint_separator(args)

    output = Path(args.output)
    if root is None and len(sources) == 1 and output.is_dir():
        example = output / Path(args.input).with_suffix(".wav").name
        raise SepflowError(f"{output} is a folder; give the output file's name, e.g. {example}")
    durations = [info.frames / info.sample_rate for info in map(audio_info, files)]
    advance, close = _progress(sum(durations), args.quiet)
    try:
        for file, seconds in zip(files, durations):
            audio, sr = read_audio(file)
            estimates = process(resample(audio, sr, rate))
            for estimate, path in zip(estimates, output_paths(file, root, output, sources).values()):
                back = _fit_length(resample(estimate, rate, sr), audio.shape[-1])
                write_audio(path, back, sr, subtype=args.subtype)
            advance(seconds, file.name)
    finally:
        close()
