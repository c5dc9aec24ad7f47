"""Atomic writes: every output is made under a temporary name beside its target and renamed
into place, so an interrupted job never leaves a half-written file or folder behind.

Temporary names are made by hand rather than by tempfile, whose files and folders are
private (0600/0700); these get the usual permissions from the umask. They name the host and
the process that writes them (`.{name}.{host}-{pid}.{hex}.tmp`), so the leftovers of a killed
process can be told from the work of a live one, also on a file system that several hosts
share: only this host's leftovers whose process is gone are removed.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

from sepflow.disk import DiskFull, is_full


def host_name() -> str:
    """This host's name as it may appear in a file name (no dots: they separate the parts)."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname().split(".")[0]) or "host"


def _temporary_sibling(path: Path) -> Path:
    return path.with_name(f".{path.name}.{host_name()}-{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")


def process_alive(pid: int) -> bool:
    """Whether a process with this id runs on this host (a reused id counts as alive: the
    leftover then stays, which is the safe mistake)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _leftover_pids(name: str, candidate: str) -> list[int] | None:
    """The writers' process ids encoded in `candidate` when it is a temporary of `name` made
    on this host (today's names, and the host-less names of earlier versions); else None."""
    n = re.escape(name)
    m = re.fullmatch(rf"\.{n}\.(?P<host>[A-Za-z0-9_-]+)-(?P<pid>\d+)\.[0-9a-f]{{8}}\.tmp", candidate)
    if m:
        return [int(m["pid"])] if m["host"] == host_name() else None
    patterns = (
        rf"\.{n}\.(\d+)\.[0-9a-f]{{8}}\.tmp",  # atomic_path / atomic_folder, before host names
        rf"\.\.{n}\.(\d+)\.[0-9a-f]{{8}}\.tmp\.partial-(\d+)",  # prepare + the demo's own staging
        rf"\.{n}\.(?:partial|old)-(\d+)",  # the demo's staging alone
    )
    for pattern in patterns:
        m = re.fullmatch(pattern, candidate)
        if m:
            return [int(g) for g in m.groups()]
    return None


def dead_leftovers(path: str | os.PathLike) -> list[Path]:
    """Temporary files and folders of `path` left beside it by processes of this host that
    are gone (killed before they could rename or remove them)."""
    path = Path(path)
    if not path.parent.is_dir():
        return []
    found = []
    for entry in path.parent.iterdir():
        if entry.name.startswith("."):
            pids = _leftover_pids(path.name, entry.name)
            if pids and not any(process_alive(pid) for pid in pids):
                found.append(entry)
    return sorted(found)


def remove_dead_leftovers(path: str | os.PathLike) -> list[Path]:
    """Remove what dead_leftovers(path) finds; return it."""
    found = dead_leftovers(path)
    for entry in found:
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
    return found


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces `path`, on error it is removed.
    A full disk is raised as DiskFull naming the folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary_sibling(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except (OSError, RuntimeError) as exc:
        if is_full(exc, path.parent):  # judged while the partial file still fills the disk
            raise DiskFull(path.parent) from None
        raise
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
    remove_dead_leftovers(path)
    tmp = _temporary_sibling(path)
    tmp.mkdir()
    try:
        yield tmp
        replace_folder(tmp, path)
    except (OSError, RuntimeError, DiskFull) as exc:  # named after the folder, not its hidden temporary
        if isinstance(exc, DiskFull) or is_full(exc, path.parent):
            raise DiskFull(path.parent) from None
        raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def replace_folder(source: Path, target: Path) -> None:
    """Rename the folder `source` to `target`, replacing a folder there."""
    if target.exists():
        shutil.rmtree(target)
    os.replace(source, target)
