"""Build an output folder in a hidden sibling and rename it into place only when complete.

An interrupted or failed run then leaves no half-written corpus that a later stage could
mistake for a finished one; a previous complete folder is replaced only at the very end.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def build_atomically(out_dir: str | os.PathLike, build: Callable[[Path], T]) -> T:
    """Run build(staging_dir), then move staging_dir to out_dir (replacing it); return build's result."""
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = out_dir.parent / f".{out_dir.name}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)  # left by a crashed run that had our pid
    staging.mkdir()
    try:
        result = build(staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if out_dir.exists():
        retired = out_dir.parent / f".{out_dir.name}.old-{os.getpid()}"
        out_dir.rename(retired)
        shutil.rmtree(retired)
    staging.rename(out_dir)
    return result
