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


def configure(log_file: str | Path | None = None, console: TextIO | None = sys.stderr, quiet: bool = False) -> None:
    """One set of handlers for the process: the job's log file (everything, with times) and the
    console (messages alone; nothing but warnings when `quiet`). Replaces earlier handlers."""
    logger = logging.getLogger(ROOT)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    logger.setLevel(logging.INFO)
    logger.propagate = False
    if log_file is not None:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        to_file = logging.FileHandler(log_file, encoding="utf-8")
        to_file.setFormatter(logging.Formatter(FORMAT, datefmt="%H:%M:%S"))
        logger.addHandler(to_file)
    if console is not None:
        to_console = logging.StreamHandler(console)
        to_console.setFormatter(logging.Formatter("%(message)s"))
        to_console.setLevel(logging.WARNING if quiet or log_file is not None else logging.INFO)
        logger.addHandler(to_console)


def _on_terminal() -> bool:
    """Whether the console handler writes to a terminal (a bar), rather than a log (lines)."""
    streams = [getattr(h, "stream", None) for h in logging.getLogger(ROOT).handlers if type(h) is logging.StreamHandler]
    return any(s is not None and s.isatty() for s in streams) and not any(
        isinstance(h, logging.FileHandler) for h in logging.getLogger(ROOT).handlers
    )


def progress(items: Iterable[T], total: int, what: str, logger: logging.Logger) -> Iterator[T]:
    """Iterate `items` (`total` of them), showing progress: a tqdm bar on a terminal, else a
    line `what: k/total` at every tenth of the work or minute, and at the end."""
    if _on_terminal():
        from tqdm import tqdm

        yield from tqdm(items, total=total, desc=what, unit="", file=sys.stderr, dynamic_ncols=True, leave=False)
        return
    step, said, last = max(1, round(total * PROGRESS_EVERY)), 0, time.monotonic()
    for done, item in enumerate(items, 1):
        yield item
        if done == total or done - said >= step or time.monotonic() - last >= PROGRESS_SECONDS:
            logger.info("%s: %d/%d", what, done, total)
            said, last = done, time.monotonic()
