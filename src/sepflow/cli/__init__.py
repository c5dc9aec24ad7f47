"""The `sepflow` command: run a trained checkpoint on your own files, or score a folder of
estimates against references, without writing Python or a workflow config.

    sepflow enhance model.pt noisy.flac clean.wav
    sepflow enhance model.pt recordings/ enhanced/ --stream
    sepflow evaluate enhanced/ clean/ --mixtures noisy/ --csv scores.csv
    sepflow export results/tcm_unet/model.pt tcm_unet_onnx/
    sepflow enhance tcm_unet_onnx/ noisy.wav clean.wav --stream
    sepflow verify --hash --fix

Any sample rate and channel count goes in: audio is resampled to the checkpoint's rate and
back, and a mono model hears each channel (or the downmix, --channels downmix). Long files
stream through in blocks, so memory does not grow with their length. Nothing is written
into the input, and an existing output is replaced only with --overwrite. Errors a user
can cause (a full disk among them) print one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable
from pathlib import Path

from sepflow import __version__
from sepflow.cli.enhance import enhance
from sepflow.cli.evaluate import evaluate
from sepflow.cli.export import export
from sepflow.cli.verify import verify_project
from sepflow.disk import FULL_ERRNOS, DiskFull
from sepflow.errors import SepflowError
from sepflow.logs import configure

USER_ERROR = 2


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="sepflow", description=__doc__.split("\n\n")[0])
    top.add_argument("--version", action="version", version=f"sepflow {__version__}")
    commands = top.add_subparsers(dest="command", required=True)

    p = commands.add_parser("enhance", help="run a trained checkpoint on a file or a folder")
    p.add_argument(
        "checkpoint",
        help="a model.pt written by the pipeline, a folder written by sepflow export, or an external system's name "
        "(deepfilternet3, rnnoise)",
    )
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
    p.add_argument(
        "--onnx", action="store_true", help="CHECKPOINT is an export folder (sepflow export); run it in onnxruntime"
    )
    p.add_argument("--subtype", default="PCM_16", help="output sample format (PCM_16, PCM_24, FLOAT)")
    p.add_argument("--overwrite", action="store_true", help="replace outputs that exist (never an input)")
    p.add_argument(
        "--mirror-extensions",
        action="store_true",
        help="each output keeps its input's extension and format (x.flac -> OUTPUT/x.flac), so that "
        "x.wav and x.flac in one folder do not collide",
    )
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(run=enhance)

    p = commands.add_parser(
        "export", help="export a checkpoint to ONNX graphs (streaming and offline) with a model card"
    )
    p.add_argument(
        "checkpoint", help="a model.pt written by the pipeline (results/EXP/model.pt adds its training and scores)"
    )
    p.add_argument("out_dir", help="the export folder to write (replaced whole)")
    p.add_argument("--offline-only", action="store_true", help="no streaming graphs, even for a causal model")
    p.add_argument("--licence", help="the licence of the weights, written on the model card")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(run=export)

    p = commands.add_parser("evaluate", help="score a folder of estimates against references (the pipeline's table)")
    p.add_argument("estimates", help="folder of estimates, named as the references")
    p.add_argument("references", nargs="?", help="folder of clean references (speech)")
    p.add_argument("--mixtures", help="folder of the unprocessed inputs, named as the references (for SI-SNRi)")
    p.add_argument("--manifest", help="a test-set manifest instead of REFERENCES (any task)")
    p.add_argument("--csv", help="also write the per-item metrics here (both composite definitions)")
    p.add_argument(
        "--composite",
        choices=("cmgan", "loizou"),
        default="cmgan",
        help="CSIG/CBAK/COVL shown in the table: as CMGAN's compute_metrics.py, which recent VoiceBank+DEMAND "
        "papers used (default), or as Loizou's composite.m",
    )
    p.add_argument("--workers", type=int, default=1, help="processes scoring items in parallel")
    p.set_defaults(run=evaluate)

    p = commands.add_parser(
        "verify", help="check every file of a project's prepared and enhanced folders (--fix: mark them for a rerun)"
    )
    p.add_argument("--directory", default=".", help="the project folder (default: here)")
    p.add_argument("--configfile", action="append", default=[], help="a config merged over config.yaml, as snakemake's")
    p.add_argument("--hash", action="store_true", help="also hash every file a manifest lists against the manifest")
    p.add_argument("--fix", action="store_true", help="mark what changed so that the next snakemake run redoes it")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="threads hashing files")
    p.set_defaults(run=verify_project)
    return top


def main(argv: Iterable[str] | None = None) -> int:
    args = parser().parse_args(None if argv is None else list(argv))
    configure(console=sys.stderr, quiet=getattr(args, "quiet", False))
    try:
        status = args.run(args)
    except SepflowError as exc:
        print(f"sepflow {args.command}: error: {exc}", file=sys.stderr)
        return USER_ERROR
    except OSError as exc:  # a full disk met outside a write that names it (making a folder, say)
        if exc.errno not in FULL_ERRNOS:
            raise
        print(f"sepflow {args.command}: error: {DiskFull(Path(exc.filename or '.').parent)}", file=sys.stderr)
        return USER_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return status or 0


if __name__ == "__main__":
    sys.exit(main())
