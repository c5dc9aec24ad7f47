"""Where `sepflow enhance` writes, checked before anything is written: never into its input
(the same file, or a folder equal to or inside the input folder, symbolic links resolved),
never two inputs onto one output, never over an existing file unless asked, and not onto a
disk too small for the outputs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sepflow.cli.inputs import output_paths
from sepflow.disk import require_space
from sepflow.errors import SepflowError


@dataclass(frozen=True)
class FileJob:
    """One input file and where each source's estimate goes."""

    source: Path
    outputs: dict[str, Path]


def _identity(path: Path) -> tuple[int, int]:
    """What makes a file itself, whatever its name (symbolic and hard links included)."""
    info = path.stat()
    return info.st_dev, info.st_ino


def _inside(path: Path, folder: Path) -> bool:
    path, folder = path.resolve(), folder.resolve()
    return path == folder or folder in path.parents


def mirrored_paths(file: Path, root: Path | None, output: Path, sources: list[str]) -> dict[str, Path]:
    """output_paths with each output keeping its input's extension (x.flac -> OUTPUT/x.flac, or
    OUTPUT/x.flac/<source>.flac for several sources), so x.wav and x.flac do not collide."""
    plain = output_paths(file, root, output, sources)
    if len(sources) == 1 and root is None:
        return plain
    suffix = file.suffix.lower()
    if len(sources) == 1:
        return {sources[0]: plain[sources[0]].with_suffix(suffix)}
    name = file.relative_to(root) if root is not None else Path(file.name)
    return {source: output / name / f"{source}{suffix}" for source in sources}


def plan_outputs(
    files: list[Path],
    root: Path | None,
    output: Path,
    sources: list[str],
    *,
    mirror_extensions: bool = False,
    overwrite: bool = False,
) -> list[FileJob]:
    """Each input file with its outputs; a SepflowError when the outputs would overwrite an
    input, collide with each other, or replace existing files without `overwrite`."""
    if root is not None and _inside(output, root):
        raise SepflowError(
            f"the output folder {output} is the input folder {root} or inside it; give a folder outside it "
            "(sepflow enhance never writes into its input)."
        )
    naming = mirrored_paths if mirror_extensions else output_paths
    jobs = [FileJob(file, naming(file, root, output, sources)) for file in files]
    inputs = {_identity(file): file for file in files}
    for job in jobs:
        for path in job.outputs.values():
            if path.is_file() and _identity(path) in inputs:
                raise SepflowError(
                    f"the output {path} is the input file {inputs[_identity(path)]}; give another output path "
                    "(sepflow enhance never writes into its input)."
                )
    writers: dict[Path, Path] = {}
    for job in jobs:
        for path in job.outputs.values():
            first = writers.setdefault(path.resolve(), job.source)
            if first != job.source:
                raise SepflowError(
                    f"{first} and {job.source} would both be written to {path}; pass --mirror-extensions "
                    "(each output keeps its input's extension) or rename one of them."
                )
    existing = [path for job in jobs for path in job.outputs.values() if path.exists()]
    if existing and not overwrite:
        more = f" (and {len(existing) - 1} more outputs)" if len(existing) > 1 else ""
        raise SepflowError(
            f"{existing[0]} exists{more}; pass --overwrite to replace what exists, or give another output."
        )
    folders = [path for path in existing if path.is_dir()]
    if folders:
        raise SepflowError(f"{folders[0]} is a folder where an output file goes; move it or give another output.")
    return jobs


def check_space(folder: Path, sizes: list[int]) -> None:
    """Stop before writing when the disk of `folder` cannot hold every output (each is written
    in full beside any file it replaces, then renamed)."""
    require_space(folder, sum(sizes), "the outputs")
