"""Atomic writes: every output is made under a temporary name beside its target and renamed
into place, so an interrupted job never leaves a half-written file or folder behind. And
folder records: what a stage wrote into a folder, so a later change to it is seen.

Temporary names are made by hand rather than by tempfile, whose files and folders are
private (0600/0700); these get the usual permissions from the umask.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path


def _temporary_sibling(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces `path`, on error it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary_sibling(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_atomic(path: str | os.PathLike, data: str | bytes) -> Path:
    """Write text or bytes atomically."""
    with atomic_path(path) as tmp:
        if isinstance(data, bytes):
            tmp.write_bytes(data)
        else:
            tmp.write_text(data)
    return Path(path)


@contextlib.contextmanager
def atomic_folder(path: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty temporary folder; on success it replaces the folder `path` whole."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary_sibling(path)
    tmp.mkdir()
    try:
        yield tmp
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def folder_state(folder: str | os.PathLike) -> dict[str, list[int]]:
    """Every file under `folder` (hidden ones aside) with its size and modification time:
    cheap to take, and any write, deletion or addition changes it."""
    folder = Path(folder)
    state = {}
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if not any(part.startswith(".") for part in relative.parts):
            info = path.stat()
            if stat.S_ISREG(info.st_mode):
                state[relative.as_posix()] = [info.st_size, info.st_mtime_ns]
    return state


def write_folder_record(folder: str | os.PathLike, record: str | os.PathLike) -> Path:
    """Record what a stage wrote into `folder`, so later changes to it can be seen."""
    return write_atomic(record, json.dumps(folder_state(folder), indent=0, sort_keys=True) + "\n")


def folder_changes(folder: str | os.PathLike, record: str | os.PathLike) -> list[str]:
    """What changed in `folder` since its record was written: 'changed X', 'missing X',
    'added X'; empty when it is as recorded or when either does not exist."""
    folder, record = Path(folder), Path(record)
    if not folder.is_dir() or not record.is_file():
        return []
    try:
        recorded = json.loads(record.read_text())
    except json.JSONDecodeError:
        return [f"unreadable record {record}"]
    now = folder_state(folder)
    changes = [f"missing {name}" for name in recorded if name not in now]
    changes += [f"added {name}" for name in now if name not in recorded]
    changes += [f"changed {name}" for name in now if name in recorded and now[name] != recorded[name]]
    return changes


def remove_outputs_missing_inputs(made_from: dict[str, list[str]]) -> list[str]:
    """Remove every existing output one of whose inputs is missing, repeatedly, so nothing
    stands on a file that is gone; return what was removed. `made_from` maps each output
    to its inputs (an output that is an input of another is removed in turn)."""
    removed = []
    changed = True
    while changed:
        changed = False
        for output, inputs in made_from.items():
            if os.path.exists(output) and any(not os.path.exists(p) for p in inputs):
                os.remove(output)
                removed.append(output)
                changed = True
    return removed
