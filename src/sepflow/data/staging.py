"""A dataset is prepared in a hidden sibling folder, `.{name}.partial`, that survives an
interruption, and renamed into place only when complete: a later stage never sees a
half-made corpus, and the next preparation does only what is missing.

What is finished is written in a journal inside the folder, one JSON line per task,
appended only after the task's files are complete (each file is itself written under a
temporary name and renamed), so a half-written file never counts as finished. The journal
holds what a task's result depends on beyond the preparation's settings (a source file's
size and modification time, say); the settings themselves are the folder's fingerprint, and
a folder left by other settings is emptied before use.

One process at a time prepares a folder: it holds an exclusive lock on `.lock` inside,
which the kernel (or the NFS lock manager) releases when the process dies, even by SIGKILL.
A folder whose lock is free belongs to nobody: its temporary files are leftovers and are
removed, its finished files kept. `.owner` names the holder (host and process) for the
message a second process gets.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from sepflow.errors import SepflowError
from sepflow.files import host_name, process_alive, remove_dead_leftovers, replace_folder, write_atomic

Log = Callable[[str], None]
BOOKKEEPING = (".lock", ".owner", ".fingerprint", ".journal")
LOCK_WAIT = 10.0
"""Seconds to wait for a lock whose holder just died: its forked workers may linger a moment."""


class Journal:
    """Finished tasks of a folder being prepared, by key; safe to record from several threads."""

    def __init__(self, path: Path):
        self.path = path
        self.entries: dict[str, object] = {}
        if path.is_file():
            text = path.read_text()
            for line in text.splitlines():
                with contextlib.suppress(ValueError, TypeError):  # a line cut by a kill or a full disk
                    key, value = json.loads(line)
                    self.entries[key] = value
            if text and not text.endswith("\n"):
                with open(path, "a") as f:
                    f.write("\n")
        self._file = open(path, "a", buffering=1)
        self._lock = threading.Lock()

    def __contains__(self, key: str) -> bool:
        return key in self.entries

    def __len__(self) -> int:
        return len(self.entries)

    def get(self, key: str, default=None):
        return self.entries.get(key, default)

    def done(self, key: str, value: object = True) -> None:
        """Record `key` as finished with `value` (JSON); call it after the task's files are whole."""
        with self._lock:
            self._file.write(json.dumps([key, value]) + "\n")
            self.entries[key] = value

    def key(self, path: Path) -> str:
        """A file's key: its path inside the folder."""
        return path.relative_to(self.path.parent).as_posix()

    def close(self) -> None:
        self._file.close()


def file_state(path: Path) -> list[int]:
    """What a task made from a file depends on, beyond the settings: the file's size and time."""
    info = path.stat()
    return [info.st_size, info.st_mtime_ns]


@dataclass
class Staging:
    path: Path
    journal: Journal


def staging_folder(target: str | os.PathLike) -> Path:
    target = Path(target)
    return target.parent / f".{target.name}.partial"


def _owner(folder: Path) -> str:
    with contextlib.suppress(OSError, ValueError):
        owner = json.loads((folder / ".owner").read_text())
        return f"process {owner['pid']} on {owner['host']}"
    return "another process"


def _busy(folder: Path, target: Path) -> SepflowError:
    return SepflowError(
        f"{target} is being prepared by {_owner(folder)} (in {folder}); wait for it to finish or stop it, then rerun."
    )


@contextlib.contextmanager
def _claim(folder: Path, target: Path) -> Iterator[None]:
    """Hold `folder` for this process; a SepflowError when a live process holds it."""
    fd = os.open(folder / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + LOCK_WAIT
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise _busy(folder, target) from None
                time.sleep(0.2)
            except OSError as exc:  # a file system without locks: trust the owner's host and pid
                if exc.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
                    raise
                with contextlib.suppress(OSError, ValueError):
                    owner = json.loads((folder / ".owner").read_text())
                    if owner["host"] != host_name() or process_alive(owner["pid"]):
                        raise _busy(folder, target) from None
                break
        write_atomic(folder / ".owner", json.dumps({"host": host_name(), "pid": os.getpid()}) + "\n")
        yield
    finally:
        os.close(fd)


def _remove_temporaries(folder: Path) -> int:
    """Remove the hidden temporary files and folders under `folder` (a dead writer's)."""
    found = [p for p in folder.rglob(".*.tmp")]
    for path in sorted(found, key=lambda p: len(p.parts), reverse=True):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    return len(found)


def _empty(folder: Path) -> None:
    for entry in folder.iterdir():
        if entry.name != ".lock":
            shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()


@contextlib.contextmanager
def resumable_folder(target: str | os.PathLike, fingerprint: str, log: Log = print) -> Iterator[Staging]:
    """Yield the staging folder of `target` and its journal; on success the folder replaces
    `target` whole. After an error or a kill it stays, and the next call with the same
    `fingerprint` (the settings that decide its content) continues it."""
    target = Path(target)
    folder = staging_folder(target)
    folder.parent.mkdir(parents=True, exist_ok=True)
    for leftover in remove_dead_leftovers(target):
        log(f"removed {leftover}, left by a process that is gone")
    folder.mkdir(exist_ok=True)
    with _claim(folder, target):
        stamp = folder / ".fingerprint"
        previous = stamp.read_text() if stamp.is_file() else None
        if previous is not None and previous != fingerprint:
            log(f"{folder} was left by a preparation with other settings: starting afresh")
            _empty(folder)
        elif previous is None and any(p.name not in BOOKKEEPING for p in folder.iterdir()):
            _empty(folder)  # no settings recorded: nothing in it can be trusted
        removed = _remove_temporaries(folder)
        write_atomic(stamp, fingerprint)
        journal = Journal(folder / ".journal")
        if len(journal):
            log(f"resuming the interrupted preparation of {target}: {len(journal)} tasks were finished")
        elif removed:
            log(f"removed {removed} unfinished files in {folder}")
        try:
            yield Staging(folder, journal)
        finally:
            journal.close()
        for name in BOOKKEEPING:
            (folder / name).unlink(missing_ok=True)
        replace_folder(folder, target)
