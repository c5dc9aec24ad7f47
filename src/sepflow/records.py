"""Folder records: what a stage wrote into a folder (and, for a prepared dataset, which files of
a user's folder it read), so that a later change is seen without looking at every file.

A record holds each directory's modification time and each file's size and modification time.
At rest only the directories are looked at: adding, removing or renaming an entry changes its
directory's time, so a check costs one stat per directory, whatever the number of files. Only a
directory whose time moved is listed and its files compared. A file edited in place (same name)
moves no directory's time: the job that reads it checks it against its manifest as it reads
(sepflow.data.datasets.checked), and a full check (`every_file`, `sepflow verify`) stats every
file. `sepflow verify --fix` writes what it found into the record (`stale`), which the next
run's check reads: the folder is redone, and nothing is deleted.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path

from sepflow.errors import SepflowError
from sepflow.files import write_atomic

State = dict[str, list[int]]


def _visible(name: str) -> bool:
    return not name.startswith(".")


def folder_state(folder: str | os.PathLike) -> tuple[dict[str, int], State]:
    """({directory: mtime_ns}, {file: [size, mtime_ns]}) of everything under `folder` (hidden
    entries aside), relative paths with "" for the folder itself."""
    dirs, files = {}, {}
    pending = [(Path(folder), "")]
    while pending:
        path, relative = pending.pop()
        dirs[relative] = os.stat(path).st_mtime_ns
        with os.scandir(path) as entries:
            for entry in entries:
                if not _visible(entry.name):
                    continue
                name = f"{relative}/{entry.name}" if relative else entry.name
                if entry.is_dir(follow_symlinks=False):
                    pending.append((Path(entry.path), name))
                elif entry.is_file():
                    info = entry.stat()
                    files[name] = [info.st_size, info.st_mtime_ns]
    return dict(sorted(dirs.items())), dict(sorted(files.items()))


def _file_states(paths: Iterable[str]) -> State:
    states = {}
    for path in paths:
        try:
            info = os.stat(path)
        except FileNotFoundError:
            continue
        states[path] = [info.st_size, info.st_mtime_ns]
    return states


def _resolved(files: Iterable[str]) -> list[str]:
    """Absolute paths with symbolic links resolved, each folder resolved once (resolving each
    file costs a stat per path component)."""
    folders: dict[str, Path] = {}
    out = []
    for f in files:
        path = Path(f)
        parent = str(path.parent)
        if parent not in folders:
            folders[parent] = path.parent.resolve()
        out.append(str(folders[parent] / path.name))
    return sorted(out)


def source_state(files: Iterable[str]) -> dict:
    """The record of the files of a user's folder a preparation read: each file, and every
    directory from their deepest common folder down to each file's own (a file or folder added
    anywhere the recipe looks moves one of their times)."""
    files = _resolved(files)
    if not files:
        return {"dirs": {}, "files": {}}
    top = Path(os.path.commonpath([str(Path(f).parent) for f in files]))
    dirs = set()
    for f in files:
        parent = Path(f).parent
        while parent != top and top in parent.parents:
            dirs.add(parent)
            parent = parent.parent
        dirs.add(top)
    return {"dirs": {str(d): os.stat(d).st_mtime_ns for d in sorted(dirs)}, "files": _file_states(files)}


def _write(record: str | os.PathLike, header: dict, body: dict) -> Path:
    """Two JSON lines: the header (directories' times, marks), which is all a check at rest
    reads, and the body (every file), read only when a directory moved or for a full check."""
    lines = [json.dumps(part, sort_keys=True, separators=(",", ":")) for part in (header, body)]
    return write_atomic(record, "\n".join(lines) + "\n")


def write_folder_record(
    folder: str | os.PathLike, record: str | os.PathLike, sources: Iterable[str] | None = None
) -> Path:
    """Record what a stage wrote into `folder` (and the user's files it read), so later changes
    to them can be seen."""
    dirs, files = folder_state(folder)
    header, body = {"dirs": dirs}, {"files": files}
    if sources is not None:
        read = source_state(sources)
        header["source_dirs"], body["source_files"] = read["dirs"], read["files"]
    return _write(record, header, body)


def mark_stale(record: str | os.PathLike, reasons: list[str]) -> None:
    """Write `reasons` into an existing record: the next check reports them, so the folder and
    what depends on it are redone (by the next run, which writes a fresh record)."""
    header, body = _read(Path(record)), _read(Path(record), body=True)
    if isinstance(header, str) or isinstance(body, str):
        raise SepflowError(f"{header if isinstance(header, str) else body}; rerun the stage that writes it.")
    header["stale"] = sorted(set(header.get("stale", [])) | set(reasons))
    _write(record, header, body)


def _compare(recorded: State, now: State, prefix: str = "") -> list[str]:
    changes = [f"missing {prefix}{name}" for name in recorded if name not in now]
    changes += [f"added {prefix}{name}" for name in now if name not in recorded]
    changes += [f"changed {prefix}{name}" for name in now if name in recorded and now[name] != recorded[name]]
    return changes


def _moved_directories(folder: Path, recorded_dirs: dict[str, int], files: Callable[[], State]) -> list[str]:
    """At rest: the changes inside each recorded directory whose time moved, found by listing
    that directory alone and stating its files (`files()` reads the recorded ones)."""
    changes = []
    for relative, mtime in recorded_dirs.items():
        path = folder / relative if relative else folder
        try:
            now = os.stat(path).st_mtime_ns
        except FileNotFoundError:
            changes.append(f"missing {relative}/" if relative else "missing folder")
            continue
        if now == mtime:
            continue
        prefix = f"{relative}/" if relative else ""
        depth = relative.count("/") + 1 if relative else 0
        recorded_here = {n: s for n, s in files().items() if n.startswith(prefix) and n.count("/") == depth}
        subdirs = {n for n in recorded_dirs if n and n.startswith(prefix) and n.count("/") == depth}
        found, found_dirs = {}, set()
        with os.scandir(path) as entries:
            for entry in entries:
                if not _visible(entry.name):
                    continue
                if entry.is_dir(follow_symlinks=False):
                    found_dirs.add(prefix + entry.name)
                elif entry.is_file():
                    info = entry.stat()
                    found[prefix + entry.name] = [info.st_size, info.st_mtime_ns]
        changes += _compare(recorded_here, found)
        changes += [f"added {name}/" for name in sorted(found_dirs - subdirs)]
    return changes


def _read(record: Path, body: bool = False) -> dict | str:
    """A record's header (or with `body`, its body); a record of an earlier version (one JSON
    document of files only) as a body with no directories; a message when it is unreadable."""
    unreadable = f"unreadable record {record}"
    with open(record) as f:
        first = f.readline()
        try:
            header = json.loads(first)
        except json.JSONDecodeError:
            header = None
        if not isinstance(header, dict) or "dirs" not in header:
            try:
                files = json.loads(first + f.read())
            except json.JSONDecodeError:
                return unreadable
            return {"files": files} if body else {"dirs": None}
        if not body:
            return header
        try:
            return json.loads(f.readline())
        except json.JSONDecodeError:
            return unreadable


def _body(record: Path) -> Callable[[], State]:
    """The recorded files, read on first use (a check at rest rarely needs them)."""
    cache: list[dict] = []

    def files() -> State:
        if not cache:
            body = _read(record, body=True)
            cache.append(body if isinstance(body, dict) else {"files": {}})
        return cache[0]["files"]

    return files


def folder_changes(folder: str | os.PathLike, record: str | os.PathLike, every_file: bool = False) -> list[str]:
    """What changed in `folder` since its record was written ('changed X', 'missing X',
    'added X'), and what `sepflow verify --fix` marked; empty when it is as recorded or when
    either does not exist. At rest (every_file False) one stat per directory, see the module."""
    folder, record = Path(folder), Path(record)
    if not folder.is_dir() or not record.is_file():
        return []
    header = _read(record)
    if isinstance(header, str):
        return [header]
    marked, files = list(header.get("stale", [])), _body(record)
    if every_file or header["dirs"] is None:
        return marked + _compare(files(), folder_state(folder)[1])
    return marked + _moved_directories(folder, header["dirs"], files)


def source_changes(record: str | os.PathLike, listed: Callable[[], list[str]], every_file: bool = False) -> list[str]:
    """What changed in the user's files a preparation read (its record's sources): at rest,
    only when one of their directories' times moved is `listed()` (the recipe's files now)
    compared with the files recorded; every_file stats each recorded file as well."""
    record = Path(record)
    if not record.is_file():
        return []
    header = _read(record)
    if isinstance(header, str) or "source_dirs" not in header:
        return []
    moved = {path for path, mtime in header["source_dirs"].items() if _mtime(path) != mtime}
    if not (moved or every_file):
        return []
    body = _read(record, body=True)
    if isinstance(body, str):
        return [body]
    recorded, listed_now = body["source_files"], _resolved(listed())
    present = set(listed_now)
    changes = [f"missing {f}" for f in recorded if f not in present]
    changes += [f"added {f}" for f in listed_now if f not in recorded]
    kept = [f for f in listed_now if f in recorded and (every_file or os.path.dirname(f) in moved)]
    now = _file_states(kept)  # a file replaced under its name moved its folder; in place, only every_file sees it
    return changes + [f"changed {f}" for f in kept if now.get(f) != recorded[f]]


def _mtime(path: str) -> int | None:
    try:
        return os.stat(path).st_mtime_ns
    except FileNotFoundError:
        return None


def check_unchanged(folder: str | os.PathLike, record: str | os.PathLike) -> None:
    """Before a job reads a folder another stage wrote: every file as recorded (one stat per
    file), else one SepflowError naming what changed and the target that remakes it."""
    changes = folder_changes(folder, record, every_file=True)
    if changes:
        shown = "; ".join(changes[:3]) + (f"; and {len(changes) - 3} more" if len(changes) > 3 else "")
        raise SepflowError(
            f"{folder} changed since it was written ({shown}); remake it and what depends on it with "
            f"`snakemake --forcerun {folder}`."
        )
