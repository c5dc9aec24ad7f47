"""Training history: a list of rows kept in the checkpoint, mirrored to CSV and TensorBoard."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from sepflow.files import write_atomic

FIELDS = ("step", "train_loss", "valid_loss", "valid_si_snr", "lr", "seconds")


def write_history_csv(rows: list[dict], path: Path) -> None:
    """Rewrite the whole CSV atomically, so it always matches the checkpoint."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=FIELDS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    write_atomic(path, buf.getvalue())


def format_row(row: dict, total_steps: int) -> str:
    """One validation line of the progress log."""
    return (
        f"step {row['step']:>6}/{total_steps}  train {row['train_loss']:.4f}  valid {row['valid_loss']:.4f}  "
        f"valid SI-SNR {row['valid_si_snr']:6.2f} dB  lr {row['lr']:.2e}  {row['seconds']:7.1f}s"
    )
