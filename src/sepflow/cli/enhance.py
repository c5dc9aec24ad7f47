"""`sepflow enhance`: a trained checkpoint over a file or a folder, offline or streaming."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import soundfile as sf

from sepflow.audio.io import AudioInfo, audio_bytes, audio_info, file_format
from sepflow.cli.inputs import input_files
from sepflow.cli.outputs import FileJob, check_space, plan_outputs
from sepflow.errors import SepflowError
from sepflow.systems.external import EXTERNAL


def _streamer_separators(model, ckpt: dict, channel_mode: str, chunk_ms: float) -> Callable:
    """Per file, a separator feeding the model's streamer chunk_ms at a time, each channel on
    its own (or the downmix) for a mono model."""
    from sepflow.infer.files import StreamerSeparator
    from sepflow.models.streaming import make_streamer

    model = model.cpu()
    make_streamer(model)  # a model that cannot stream says so before anything is written
    if len(ckpt["sources"]) != 1:
        raise SepflowError(
            f"--stream runs single-source models; this checkpoint estimates {ckpt['sources']}. Drop --stream."
        )
    chunk = max(1, round(chunk_ms * ckpt["sample_rate"] / 1000))
    return lambda: StreamerSeparator(lambda: make_streamer(model), ckpt["channels"], channel_mode, chunk)


def _offline_separators(model, ckpt: dict, args: argparse.Namespace, device) -> Callable:
    """Per file, the model over windows of --chunk-seconds cross-faded over --overlap-seconds."""
    from sepflow.infer.offline import OverlapAdd, window_apply

    if args.chunk_seconds <= 0:
        raise SepflowError(f"--chunk-seconds must be positive, got {args.chunk_seconds}")
    rate = ckpt["sample_rate"]
    chunk, overlap = round(args.chunk_seconds * rate), round(args.overlap_seconds * rate)
    apply = window_apply(model, len(ckpt["sources"]), ckpt["channels"], device, args.channels)
    OverlapAdd(apply, chunk, overlap)  # a bad overlap says so before anything is written
    return lambda: OverlapAdd(apply, chunk, overlap)


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


def _external_separators(name: str, args: argparse.Namespace) -> tuple[dict, Callable]:
    """Another toolkit's enhancer named instead of a checkpoint: it runs at its library's own
    rate (the files are resampled to it and back, as for a checkpoint) on whole signals, so a
    file is held in memory at that rate; returns what the CLI reads of a checkpoint, and the
    per-file separators."""
    from sepflow.infer.files import WholeSignalSeparator

    if args.stream:
        raise SepflowError(f"{name} runs frame by frame already; drop --stream.")
    rate = EXTERNAL.build(name, 48000, ("speech",), where=name).library_rate
    system = EXTERNAL.build(name, rate, ("speech",), where=name)
    facts = {"sample_rate": rate, "sources": ["speech"], "channels": 1}
    return facts, lambda: WholeSignalSeparator(system, args.channels)


def _checked_jobs(args: argparse.Namespace, ckpt: dict) -> tuple[list[FileJob], list[AudioInfo], list[int]]:
    """The files and their outputs, every check passed before anything is written: not into the
    input, no collisions, no silent overwrites, formats that hold the subtype, enough space."""
    from sepflow.infer.offline import output_channels

    files, root = input_files(Path(args.input))
    output, sources = Path(args.output), list(ckpt["sources"])
    single = root is None and len(sources) == 1
    if single and output.is_dir():
        example = output / Path(args.input).with_suffix(".wav").name
        raise SepflowError(f"{output} is a folder; give the output file's name, e.g. {example}")
    jobs = plan_outputs(
        files, root, output, sources, mirror_extensions=args.mirror_extensions, overwrite=args.overwrite
    )
    infos = [audio_info(job.source) for job in jobs]
    empty = [job.source for job, info in zip(jobs, infos) if info.frames == 0]
    if empty:
        raise SepflowError(f"{empty[0]} holds no samples; remove it from the input or give another.")
    channels = [output_channels(info.channels, ckpt["channels"], args.channels) for info in infos]
    for job in jobs:
        for path in job.outputs.values():
            if not sf.check_format(file_format(path), args.subtype):
                raise SepflowError(
                    f"{path}: a {file_format(path)} file cannot hold --subtype {args.subtype}; "
                    "choose PCM_16 or PCM_24 (FLOAT: WAV only)."
                )
    sizes = [audio_bytes(i.frames, c, args.subtype) * len(sources) for i, c in zip(infos, channels)]
    check_space(output.parent if single else output, sizes)
    return jobs, infos, channels


def enhance(args: argparse.Namespace) -> None:
    from sepflow.device import make_accelerator
    from sepflow.infer.files import separate_file
    from sepflow.models.checkpoint import load_model

    device = make_accelerator(args.device, mixed_precision=False).device
    if args.checkpoint in EXTERNAL and not Path(args.checkpoint).exists():
        ckpt, separators = _external_separators(args.checkpoint, args)
        jobs, infos, channels = _checked_jobs(args, ckpt)
    else:
        model, ckpt = load_model(args.checkpoint, device)
        jobs, infos, channels = _checked_jobs(args, ckpt)
        if args.stream:
            separators = _streamer_separators(model, ckpt, args.channels, args.stream_chunk_ms)
        else:
            separators = _offline_separators(model, ckpt, args, device)
    advance, close = _progress(sum(info.frames / info.sample_rate for info in infos), args.quiet)
    try:
        for job, out_channels in zip(jobs, channels):
            separate_file(
                job.source,
                job.outputs,
                separators(),
                ckpt["sample_rate"],
                out_channels,
                args.subtype,
                progress=lambda seconds, name=job.source.name: advance(seconds, name),
            )
    finally:
        close()
