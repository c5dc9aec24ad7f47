"""Running a library function as a workflow stage: output to the rule's log file, one clear
line for user errors, and the thread count the rule was given.

Workflow scripts are thin: `with stage(snakemake): call_the_library(...)`.

A full disk is a user error like the others: one `sepflow error` line naming the folder,
also when the disk that is full holds the log itself (writing to the log then fails
quietly; the terminal still gets the line). Before the stage runs, the temporary files that
killed runs of it left beside its outputs are removed (those of live processes stay).
"""

from __future__ import annotations

import contextlib
import signal
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path

from sepflow.disk import FULL_ERRNOS, NEARLY_FULL, DiskFull, free_bytes, is_full
from sepflow.errors import SepflowError
from sepflow.files import remove_dead_leftovers


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


class _Log:
    """The rule's log file, line-buffered; a write that finds the disk full is dropped (the
    stage then fails on that disk with a clear message) instead of raising from a print."""

    def __init__(self, path: Path):
        self.path, self.full = path, False
        self.file = open(path, "a", buffering=1)

    def write(self, text: str) -> int:
        try:
            return self.file.write(text)
        except OSError as exc:
            if not is_full(exc, self.path.parent):
                raise
            self.full = True
            return len(text)

    def flush(self) -> None:
        with contextlib.suppress(OSError):
            self.file.flush()

    def close(self) -> None:
        with contextlib.suppress(OSError):  # its last lines may not fit on a full disk
            self.file.close()


def _folders(snakemake) -> list[Path]:
    """Where the stage writes: its outputs' folders and its log's."""
    paths = [Path(p) for p in list(snakemake.output) + list(snakemake.log)]
    return list(dict.fromkeys(p.parent for p in paths))


def user_error(exc: BaseException, folders: list[Path]) -> SepflowError | None:
    """The one-line error a user should see for `exc`, or None for a bug (its traceback).
    A full disk names the folder of the file that failed, else the stage's folder whose disk
    is full (a print into a full log names no file)."""
    if isinstance(exc, SepflowError):
        return exc
    if not isinstance(exc, (OSError, RuntimeError)):
        return None
    named = [Path(exc.filename).parent] if isinstance(exc, OSError) and exc.filename else []
    candidates = named + folders
    nearly_full = [folder for folder in candidates if free_bytes(folder) < NEARLY_FULL]
    if isinstance(exc, OSError) and exc.errno in FULL_ERRNOS:
        return DiskFull((named or nearly_full or candidates)[0])
    return DiskFull(nearly_full[0]) if nearly_full else None


@contextlib.contextmanager
def stage(snakemake) -> Iterator[None]:
    """Redirect stdout/stderr into the rule's log; on a user error (a SepflowError, a full
    disk) print its message to the terminal and the log and exit 1; SIGTERM (Slurm, a
    cancelled job) acts like Ctrl-C."""
    signal.signal(signal.SIGTERM, _interrupt)
    terminal = sys.stderr
    log_path = Path(snakemake.log[0]) if snakemake.log else None
    folders = _folders(snakemake)
    for output in snakemake.output:
        remove_dead_leftovers(output)
    try:
        log = _Log(log_path) if log_path else terminal
    except OSError as exc:
        print(f"sepflow error in rule {snakemake.rule}: {user_error(exc, folders) or exc}", file=terminal)
        sys.exit(1)
    try:
        if "torch" in sys.modules:  # the script imported a torch stage; others skip the import
            sys.modules["torch"].set_num_threads(max(1, int(snakemake.threads)))
        with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
            try:
                yield
            except Exception as exc:
                error = user_error(exc, folders)
                if error is None:
                    traceback.print_exc(file=log)
                    raise
                print(f"error: {error}", file=log)
                if log is not terminal:
                    lost = " (its end is missing: the disk is full)" if log.full else ""
                    print(f"sepflow error in rule {snakemake.rule}: {error}\n  (log: {log_path}{lost})", file=terminal)
                sys.exit(1)
    finally:
        if log is not terminal:
            log.close()
