"""Training history: a list of rows kept in the checkpoint, mirrored to CSV and TensorBoard.

A row holds step, train_loss, the step's validation criterion under its own column
(`valid_loss` for the supervised step, `valid_pesq` for the metric GAN), valid_si_snr, lr
and seconds: the columns say what was measured.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from sepflow.files import write_atomic


def history_row(step: int, train_loss: float, criterion, value: float, si_snr: float, lr: float, seconds: float):
    return {
        "step": step,
        "train_loss": train_loss,
        criterion.column: value,
        "valid_si_snr": si_snr,
        "lr": lr,
        "seconds": seconds,
    }


def write_history_csv(rows: list[dict], path: Path) -> None:
    """Rewrite the whole CSV atomically, so it always matches the checkpoint."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    write_atomic(path, buf.getvalue())


def format_row(row: dict, total_steps: int, criterion) -> str:
    """One validation line of the progress log."""
    return (
        f"step {row['step']:>6}/{total_steps}  train {row['train_loss']:.4f}  "
        f"{criterion.label} {row[criterion.column]:.4f}  "
        f"valid SI-SNR {row['valid_si_snr']:6.2f} dB  lr {row['lr']:.2e}  {row['seconds']:7.1f}s"
    )
