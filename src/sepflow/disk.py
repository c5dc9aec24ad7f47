"""A full disk as one clear error: which folder, how much the work needs, how much is free.

A full disk shows up in three disguises: an OSError with errno ENOSPC (or EDQUOT, a quota),
libsndfile's "System error." (soundfile drops the errno) and torch.save's "file write
failed". The last two are told from other failures by the disk itself: a write that fails
while its folder's file system has (almost) nothing free ran out of space.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator
from pathlib import Path

from sepflow.errors import SepflowError

FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
NEARLY_FULL = 1 << 20
"""Free bytes below which a write error that lost its errno is taken for a full disk."""


def free_bytes(path: str | os.PathLike) -> int:
    """Bytes an unprivileged write may still use on the file system of `path` (or of its
    nearest existing parent folder)."""
    path = Path(path).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    info = os.statvfs(path)
    return info.f_bavail * info.f_frsize


def human(n: int) -> str:
    """Bytes as a person reads them: 812 kB, 3.4 GB."""
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.1f} {unit}" if n < 100 * size else f"{n / size:.0f} {unit}"
    return f"{n} bytes"


class DiskFull(SepflowError):
    """No space left where a stage writes; `needed` is what the whole piece of work (`what`)
    needs, None when unknown (a single file's size would understate what is missing). Free
    space is measured when the message is read, after the failed write's partial file was
    removed."""

    def __init__(self, folder: str | os.PathLike, needed: int | None = None, what: str = ""):
        super().__init__(str(folder), needed, what)  # as args, so it pickles from worker processes
        self.folder, self.needed, self.what = Path(folder), needed, what

    def __str__(self) -> str:
        free = free_bytes(self.folder)
        need = f"{self.what + ': ' if self.what else ''}{human(self.needed)} needed, " if self.needed else ""
        return (
            f"no space left on the disk of {self.folder} ({need}{human(free)} free); "
            "free space there or point the folder to a larger disk, then rerun."
        )


def is_full(exc: BaseException, folder: str | os.PathLike) -> bool:
    """Whether `exc`, raised while writing into `folder`, means the disk is full."""
    if isinstance(exc, OSError) and exc.errno in FULL_ERRNOS:
        return True
    # libsndfile's "System error." and torch's "file write failed" carry no errno
    return isinstance(exc, (OSError, RuntimeError)) and free_bytes(folder) < NEARLY_FULL


def require_space(folder: str | os.PathLike, needed: int, what: str = "") -> None:
    """Stop before writing when `folder`'s disk cannot hold `needed` more bytes."""
    if needed > free_bytes(folder):
        raise DiskFull(folder, needed, what)


@contextlib.contextmanager
def space_for(folder: str | os.PathLike, needed: int | None = None, what: str = "") -> Iterator[None]:
    """Report a full disk met inside as DiskFull naming `folder` and what the work needs:
    a DiskFull from a single write learns the size of the whole piece of work."""
    try:
        yield
    except DiskFull as exc:
        if needed is None or exc.needed is not None and exc.needed >= needed:
            raise
        raise DiskFull(exc.folder, needed, what) from None
    except (OSError, RuntimeError) as exc:
        if not is_full(exc, folder):
            raise
        where = Path(exc.filename).parent if isinstance(exc, OSError) and exc.filename else folder
        raise DiskFull(where, needed, what) from None
