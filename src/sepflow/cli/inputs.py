"""The files a command reads and where it writes: a file or a folder searched recursively."""

from __future__ import annotations

from pathlib import Path

from sepflow.data.resampling import AUDIO_SUFFIXES
from sepflow.errors import SepflowError


def audio_files(folder: Path) -> list[Path]:
    """Every .wav/.flac file under `folder`, recursively, in a stable order."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)


def input_files(source: Path) -> tuple[list[Path], Path | None]:
    """The files to process and the folder they are relative to (None for one file)."""
    if source.is_file():
        return [source], None
    if source.is_dir():
        files = audio_files(source)
        if not files:
            raise SepflowError(f"no .wav or .flac files under {source}; point INPUT at a file or a folder of audio.")
        return files, source
    raise SepflowError(f"input not found: {source}; give an audio file or a folder of .wav/.flac files.")


def output_paths(file: Path, root: Path | None, output: Path, sources: list[str]) -> dict[str, Path]:
    """Where each source of `file` goes: OUTPUT itself (one file, one source), OUTPUT/<name>.wav
    (a folder, one source), else OUTPUT/<name>/<source>.wav stems."""
    if len(sources) == 1 and root is None:
        return {sources[0]: output}
    name = file.relative_to(root).with_suffix("") if root is not None else Path(file.stem)
    if len(sources) == 1:
        return {sources[0]: output / name.with_suffix(".wav")}
    return {source: output / name / f"{source}.wav" for source in sources}
