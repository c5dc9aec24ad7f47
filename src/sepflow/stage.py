"""Running a library function as a workflow stage: output to the rule's log file, one clear
line for user errors, and the thread count the rule was given.

Workflow scripts are thin: `with stage(snakemake): call_the_library(...)`.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path

from sepflow.errors import SepflowError


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


@contextlib.contextmanager
def stage(snakemake) -> Iterator[None]:
    """Redirect stdout/stderr into the rule's log; on a SepflowError print its message to the
    terminal and the log and exit 1; SIGTERM (Slurm, a cancelled job) acts like Ctrl-C."""
    signal.signal(signal.SIGTERM, _interrupt)
    terminal = sys.stderr
    log_path = Path(snakemake.log[0]) if snakemake.log else None
    log = open(log_path, "a", buffering=1) if log_path else terminal
    try:
        if "torch" in sys.modules:  # the script imported a torch stage; others skip the import
            sys.modules["torch"].set_num_threads(max(1, int(snakemake.threads)))
        with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
            try:
                yield
            except SepflowError as exc:
                print(f"error: {exc}", file=log)
                if log is not terminal:
                    print(f"sepflow error in rule {snakemake.rule}: {exc}\n  (log: {log_path})", file=terminal)
                sys.exit(1)
            except Exception:
                traceback.print_exc(file=log)
                raise
    finally:
        if log is not terminal:
            log.close()
