"""Logging for stages and commands: every module logs to `logging.getLogger(__name__)`; a stage
(a Snakemake job) or a command sets up one set of handlers for the "sepflow" logger, and long
loops report progress through `progress`: a bar on a terminal, periodic lines in a job log.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TextIO, TypeVar

ROOT = "sepflow"
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
PROGRESS_EVERY = 0.1
"""A job log gets a progress line at every tenth of the work..."""
PROGRESS_SECONDS = 60.0
"""... or after this long without one, whichever comes first."""

T = TypeVar("T")


def configure(log: str | Path | TextIO | None = None, console: TextIO | None = sys.stderr, quiet: bool = False) -> None:
    """One set of handlers for the process: the job's log (a path or an open stream: everything,
    with times) and the console (messages alone; only warnings when there is a log or when
    `quiet`). Replaces earlier handlers."""
    logger = logging.getLogger(ROOT)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    logger.setLevel(logging.INFO)
    logger.propagate = False
    if log is not None:
        if isinstance(log, str | Path):
            Path(log).parent.mkdir(parents=True, exist_ok=True)
            to_log = logging.FileHandler(log, encoding="utf-8")
        else:
            to_log = _JobLog(log)
        to_log.setFormatter(logging.Formatter(FORMAT, datefmt="%H:%M:%S"))
        logger.addHandler(to_log)
    if console is not None:
        to_console = logging.StreamHandler(console)
        to_console.setFormatter(logging.Formatter("%(message)s"))
        to_console.setLevel(logging.WARNING if quiet or log is not None else logging.INFO)
        logger.addHandler(to_console)


class _JobLog(logging.StreamHandler):
    """A job's log stream: progress is written as periodic lines, not as a bar."""


def _terminal() -> TextIO | None:
    """The terminal progress goes to as a bar, or None: a job's log gets lines instead."""
    handlers = logging.getLogger(ROOT).handlers
    if any(isinstance(h, logging.FileHandler | _JobLog) for h in handlers):
        return None
    streams = [h.stream for h in handlers if isinstance(h, logging.StreamHandler) and h.level <= logging.INFO]
    return next((s for s in streams if _is_terminal(s)), None)


def _is_terminal(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no such method, or the stream is closed
        return False


def progress(items: Iterable[T], total: int, what: str, logger: logging.Logger) -> Iterator[T]:
    """Iterate `items` (`total` of them), showing progress: a tqdm bar on a terminal, else a
    line `what: k/total` at every tenth of the work or minute, and at the end."""
    terminal = _terminal()
    if terminal is not None:
        from tqdm import tqdm

        yield from tqdm(items, total=total, desc=what, unit="", file=terminal, dynamic_ncols=True)
        return
    step, said, last = max(1, round(total * PROGRESS_EVERY)), 0, time.monotonic()
    for done, item in enumerate(items, 1):
        yield item
        if done == total or done - said >= step or time.monotonic() - last >= PROGRESS_SECONDS:
            logger.info("%s: %d/%d", what, done, total)
            said, last = done, time.monotonic()
