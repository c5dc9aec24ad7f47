"""What a training run tells its user: progress lines with speed and time left, a line per
validation, and TensorBoard (the history's scalars and audio examples). Rank 0 speaks for
all ranks: on the others every method does nothing."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from torch.utils.tensorboard import SummaryWriter

from sepflow.train.examples import ValidationExamples
from sepflow.train.history import format_row


def _format_eta(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s"


class Progress:
    """The log lines and TensorBoard events of one training process, from `step` on."""

    def __init__(self, log: Callable[[str], None], tag: str, recipe, criterion, main_process: bool):
        self.log = log if main_process else (lambda line: None)
        self.tag, self.recipe, self.criterion, self.main_process = tag, recipe, criterion, main_process
        self.writer = self.examples = self.estimate = None
        self.started, self.start_step = time.monotonic(), 0

    def say(self, line: str) -> None:
        self.log(f"{self.tag} {line}")

    def open(self, out_dir: Path, step: int, data, estimate) -> None:
        """Start TensorBoard and the clock at `step` (0 for a fresh run). TensorBoard drops the
        events an earlier process wrote after that step: an interrupted run's, or all of a
        replaced run's."""
        if self.main_process:
            self.writer = SummaryWriter(str(out_dir / "tensorboard"), purge_step=step + 1)
            self.examples = ValidationExamples(data.valid, data.sources, data.sample_rate, self.recipe.examples)
            self.estimate = estimate
        self.mark(step)

    def mark(self, step: int) -> None:
        self.started, self.start_step = time.monotonic(), step

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def step(self, step: int, terms: dict[str, float], lr: float) -> None:
        if step % self.recipe.log_every:
            return
        total = self.recipe.steps
        rate = (step - self.start_step) / max(self.elapsed(), 1e-9)
        others = "".join(f"  {k} {v:.4f}" for k, v in terms.items() if k != "loss")
        self.say(
            f"step {step:>6}/{total} ({100 * step / total:5.1f}%)  loss {terms['loss']:.4f}{others}  "
            f"lr {lr:.2e}  {rate:5.2f} step/s  eta {_format_eta((total - step) / max(rate, 1e-9))}"
        )

    def validation(self, row: dict, best: bool, unscored: int, model, device) -> None:
        """The row's scalars and the examples in TensorBoard, then its log line."""
        if self.writer is not None:
            for key, value in row.items():
                if key not in ("step", "seconds"):
                    self.writer.add_scalar(key, value, row["step"])
            self.examples.write(self.writer, model, row["step"], device, self.estimate)
            self.writer.flush()
        left_out = f"  ({unscored} items without a score left out)" if unscored else ""
        self.say(f"{format_row(row, self.recipe.steps, self.criterion)}{'  *best' if best else ''}{left_out}")

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
