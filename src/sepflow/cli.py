"""The `sepflow` command: run a trained checkpoint on your own files, or score a folder of
estimates against references, without writing Python or a workflow config.

    sepflow enhance model.pt noisy.flac clean.wav
    sepflow enhance model.pt recordings/ enhanced/ --stream
    sepflow evaluate enhanced/ clean/ --mixtures noisy/ --csv scores.csv

Any sample rate and channel count goes in: audio is resampled to the checkpoint's rate and
back, and a mono model hears each channel (or the downmix, --channels downmix). Errors a
user can cause print one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from sepflow import __version__
from sepflow.data.resampling import AUDIO_SUFFIXES
from sepflow.errors import SepflowError

USER_ERROR = 2


def audio_files(folder: Path) -> list[Path]:
    """Every .wav/.flac file under `folder`, recursively, in a stable order."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)


def _inputs(source: Path) -> tuple[list[Path], Path | None]:
    """The files to process and the folder they are relative to (None for one file)."""
    if source.is_file():
        return [source], None
    if source.is_dir():
        files = audio_files(source)
        if not files:
            raise SepflowError(f"no .wav or .flac files under {source}; point INPUT at a file or a folder of audio.")
        return files, source
    raise SepflowError(f"input not found: {source}; give an audio file or a folder of .wav/.flac files.")


def _outputs(file: Path, root: Path | None, output: Path, sources: list[str]) -> dict[str, Path]:
    """Where each source of `file` goes: OUTPUT itself (one file, one source), OUTPUT/<name>.wav
    (a folder, one source), else OUTPUT/<name>/<source>.wav stems."""
    if len(sources) == 1 and root is None:
        return {sources[0]: output}
    name = file.relative_to(root).with_suffix("") if root is not None else Path(file.stem)
    if len(sources) == 1:
        return {sources[0]: output / name.with_suffix(".wav")}
    return {source: output / name / f"{source}.wav" for source in sources}


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


def enhance(args: argparse.Namespace) -> None:
    from sepflow.audio import read_audio, resample, write_audio
    from sepflow.audio.io import audio_info
    from sepflow.device import make_accelerator
    from sepflow.infer.offline import separate
    from sepflow.models.checkpoint import load_model

    files, root = _inputs(Path(args.input))
    device = make_accelerator(args.device, mixed_precision=False).device
    model, ckpt = load_model(args.checkpoint, device)
    rate, sources = ckpt["sample_rate"], list(ckpt["sources"])
    if args.stream:
        process = _streaming_separator(model, ckpt, args.channels, args.stream_chunk_ms)
    else:
        if args.chunk_seconds <= 0:
            raise SepflowError(f"--chunk-seconds must be positive, got {args.chunk_seconds}")
        chunk, overlap = round(args.chunk_seconds * rate), round(args.overlap_seconds * rate)

        def process(audio: np.ndarray) -> np.ndarray:
            return separate(model, audio, len(sources), ckpt["channels"], chunk, overlap, device, args.channels)

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
            for estimate, path in zip(estimates, _outputs(file, root, output, sources).values()):
                back = _fit_length(resample(estimate, rate, sr), audio.shape[-1])
                write_audio(path, back, sr, subtype=args.subtype)
            advance(seconds, file.name)
    finally:
        close()


def _evaluation_items(args: argparse.Namespace) -> tuple[list[dict], str, int]:
    """Items pairing each reference with the estimate of the same name (and its mixture)."""
    from sepflow.audio.io import audio_info
    from sepflow.data.manifest import read_manifest
    from sepflow.metrics.evaluate import manifest_items

    estimates = Path(args.estimates)
    if not estimates.is_dir():
        raise SepflowError(f"estimates folder not found: {estimates}")
    if args.manifest:
        manifest = read_manifest(args.manifest)
        return manifest_items(manifest, estimates), manifest.task, manifest.sample_rate
    if not args.references:
        raise SepflowError("give a REFERENCES folder or --manifest.")
    references = Path(args.references)
    if not references.is_dir():
        raise SepflowError(f"references folder not found: {references}")
    files = audio_files(references)
    if not files:
        raise SepflowError(f"no .wav or .flac files under {references}.")

    def partner(folder: Path, relative: Path, role: str) -> str:
        for suffix in AUDIO_SUFFIXES:
            if (candidate := folder / relative.with_suffix(suffix)).is_file():
                return str(candidate)
        raise SepflowError(
            f"no {role} for {references / relative}: expected {folder / relative.with_suffix('.wav')} "
            "(file names must match the references')."
        )

    items = []
    for file in files:
        relative = file.relative_to(references)
        mixture = partner(Path(args.mixtures), relative, "mixture") if args.mixtures else str(file)
        items.append(
            {
                "id": str(relative.with_suffix("")),
                "mixture": mixture,
                "references": {"speech": str(file)},
                "estimates": {"speech": partner(estimates, relative, "estimate")},
            }
        )
    return items, "speech", audio_info(files[0]).sample_rate


MIXTURE_COLUMNS = ("si_snr_input", "si_snr_i")
"""Columns that compare with the unprocessed input: left out when no mixtures are given."""


def evaluate(args: argparse.Namespace) -> None:
    from sepflow.metrics.evaluate import evaluate_items, write_metrics_csv
    from sepflow.report.tables import report_markdown, summarize

    items, task, rate = _evaluation_items(args)
    frame = evaluate_items(items, task, rate, workers=args.workers)
    if task == "speech" and not args.mixtures and not args.manifest:
        frame = frame.drop(columns=[c for c in MIXTURE_COLUMNS if c in frame])
    if args.csv:
        write_metrics_csv(frame, args.csv)
    testset = Path(args.manifest).stem if args.manifest else Path(args.references).name
    print(report_markdown(summarize({(Path(args.estimates).name, testset): frame})))
    for line in _not_measured(frame):
        print(line)


def _not_measured(frame) -> list[str]:
    """Why the table's NaN cells are NaN: per item, the metrics that share a reason."""
    lines = []
    for row in frame.to_dict("records"):
        by_reason: dict[str, list[str]] = {}
        for part in filter(None, str(row.get("reasons") or "").split("; ")):
            metric, _, why = part.partition(": ")
            by_reason.setdefault(why, []).append(metric)
        label = row["id"] + (f" {row['source']}" if "source" in row else "")
        lines += [f"not measured, {label}: {', '.join(metrics)}: {why}" for why, metrics in by_reason.items()]
    return lines


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="sepflow", description=__doc__.split("\n\n")[0])
    top.add_argument("--version", action="version", version=f"sepflow {__version__}")
    commands = top.add_subparsers(dest="command", required=True)

    p = commands.add_parser("enhance", help="run a trained checkpoint on a file or a folder")
    p.add_argument("checkpoint", help="a model.pt written by the pipeline")
    p.add_argument("input", help="an audio file or a folder (searched recursively for .wav/.flac)")
    p.add_argument("output", help="the output file (one source, one file) or folder")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="default: CUDA when present")
    p.add_argument(
        "--channels",
        choices=("per_channel", "downmix"),
        default="per_channel",
        help="how a mono model hears multi-channel audio (default: each channel on its own)",
    )
    p.add_argument("--chunk-seconds", type=float, default=30.0, help="offline: process long files in chunks")
    p.add_argument("--overlap-seconds", type=float, default=1.0, help="offline: cross-fade between chunks")
    p.add_argument("--stream", action="store_true", help="run a causal model through its streamer, on the CPU")
    p.add_argument("--stream-chunk-ms", type=float, default=10.0, help="audio fed to the streamer per call")
    p.add_argument("--subtype", default="PCM_16", help="output WAV sample format (PCM_16, PCM_24, FLOAT)")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(run=enhance)

    p = commands.add_parser("evaluate", help="score a folder of estimates against references (the pipeline's table)")
    p.add_argument("estimates", help="folder of estimates, named as the references")
    p.add_argument("references", nargs="?", help="folder of clean references (speech)")
    p.add_argument("--mixtures", help="folder of the unprocessed inputs, named as the references (for SI-SNRi)")
    p.add_argument("--manifest", help="a test-set manifest instead of REFERENCES (any task)")
    p.add_argument("--csv", help="also write the per-item metrics here")
    p.add_argument("--workers", type=int, default=1, help="processes scoring items in parallel")
    p.set_defaults(run=evaluate)
    return top


def main(argv: Iterable[str] | None = None) -> int:
    args = parser().parse_args(None if argv is None else list(argv))
    try:
        args.run(args)
    except SepflowError as exc:
        print(f"sepflow {args.command}: error: {exc}", file=sys.stderr)
        return USER_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
