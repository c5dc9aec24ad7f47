"""Training history: a list of rows kept in the checkpoint, mirrored to CSV and TensorBoard."""

from __future__ import annotations

import csv
import io
import os
import tempfile
from pathlib import Path

FIELDS = ("step", "train_loss", "valid_loss", "valid_si_snr", "lr", "seconds")


def write_history_csv(rows: list[dict], path: Path) -> None:
    """Rewrite the whole CSV atomically, so it always matches the checkpoint."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=FIELDS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        fh.write(buf.getvalue())
    os.replace(tmp, path)


def format_row(row: dict, total_steps: int) -> str:
    """One validation line of the progress log."""
    return (f"step {row['step']:>6}/{total_steps}  train {row['train_loss']:.4f}  valid {row['valid_loss']:.4f}  "
            f"valid SI-SNR {row['valid_si_snr']:6.2f} dB  lr {row['lr']:.2e}  {row['seconds']:7.1f}s")
