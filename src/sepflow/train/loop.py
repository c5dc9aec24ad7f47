"""The training loop: Accelerate for devices and mixed precision, a pluggable step (the
optimisation of one batch, and what validation measures: supervised, GAN, ...), periodic
validation, early stopping, atomic best/last checkpoints and automatic resume that
continues the same curve.

The loop knows sources, not signals: datasets yield (mixture, targets) as the sample
contract says, and the checkpoint's task and source names come from the data.

Files under `out_dir`: last.pt (training state), best.pt (best model so far, by the step's
criterion), history.csv, tensorboard/. The returned model checkpoint (the best one) is what
inference loads. Its pieces: `resume` (continue or start afresh), `validation`,
`progress` (log lines and TensorBoard), `stop` (signals), `history`, `loader` (the batches,
read on worker processes from the job's threads).

With several processes (`sepflow.train.launch`, one per GPU, or gloo on CPU) every rank
runs this same loop on its slice of each global batch; DDP averages the gradients, the
logged terms are averaged over ranks, validation items are split among the ranks and
gathered back in item order (so every rank takes the same best/stale/early-stop and
learning-rate decisions), and only rank 0 writes files and logs.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from sepflow.data.datasets import TrainingData
from sepflow.data.segments import StepBatches
from sepflow.device import make_accelerator
from sepflow.errors import SepflowError
from sepflow.losses import build_loss
from sepflow.models import build_model, count_parameters
from sepflow.models.checkpoint import atomic_save, model_checkpoint
from sepflow.train.history import format_row, history_row, write_history_csv
from sepflow.train.loader import loader_workers, raising, training_loader
from sepflow.train.progress import Progress
from sepflow.train.recipe import Recipe, fingerprint_of
from sepflow.train.resume import differences, keep_previous, load_state
from sepflow.train.steps import build_step, check_step_data
from sepflow.train.stop import StopRequest
from sepflow.train.validation import Scores, validate


def average_over_ranks(accelerator, terms: dict[str, float], stop: int) -> tuple[dict[str, float], bool]:
    """The step's logged terms averaged over ranks (each is a mean over the rank's equal
    share of the batch, so this is the global batch's mean), and whether any rank was
    asked to stop."""
    values = torch.tensor([*terms.values(), float(stop > 0)], dtype=torch.float64, device=accelerator.device)
    values = accelerator.reduce(values, "sum").tolist()
    return {k: v / accelerator.num_processes for k, v in zip(terms, values)}, values[-1] > 0


def _rng_states() -> tuple[torch.Tensor, list | None]:
    return torch.get_rng_state(), torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None


class Trainer:
    """One experiment's training, from a fresh start or a saved state to the step budget or
    an early stop. `state` is what last.pt keeps besides the model, the step's state and the
    random number generators: step, history, the losses since the last validation, the best
    criterion value, validations without improvement, seconds trained, and whether the
    validation of `step` is still to do (it was interrupted). `threads` are this process's
    CPU threads, which the loader's workers come from unless the recipe names their number."""

    def __init__(
        self,
        model_name: str,
        model_args: dict,
        recipe: Recipe,
        data: TrainingData,
        out_dir: str | Path,
        device: str = "auto",
        name: str = "",
        on_validation: Callable[[int, dict[str, float], torch.nn.Module], None] | None = None,
        threads: int = 1,
    ):
        self.model_name, self.model_args, self.recipe, self.data = model_name, model_args, recipe, data
        self.on_validation = on_validation
        self.workers = loader_workers(recipe.num_workers, threads)
        self.out_dir = Path(out_dir)
        self.last_path, self.best_path = self.out_dir / "last.pt", self.out_dir / "best.pt"
        self.accelerator = accelerator = make_accelerator(device, recipe.mixed_precision)
        self.shared = accelerator.num_processes > 1
        self.parts = recipe.fingerprint_parts(model_name, model_args, data.fingerprint)
        check_step_data(recipe.step, data.sources, data.channels, data.sample_rate)

        torch.manual_seed(recipe.seed)
        self.model = accelerator.prepare(build_model(model_name, **model_args))
        loss_fn = build_loss(sample_rate=data.sample_rate, **recipe.loss).to(accelerator.device)
        self.step_fn = build_step(self.model, loss_fn, recipe, accelerator, data.sample_rate)
        self.criterion = self.step_fn.criterion
        self.eval_model = accelerator.unwrap_model(self.model) if self.shared else self.model  # no DDP collectives
        self.progress = Progress(f"[{name or model_name}]", recipe, self.criterion, accelerator.is_main_process)
        self.state = {
            "step": 0,
            "history": [],
            "running": [],
            "best": self.criterion.worst,
            "criterion": self.criterion.column,
            "stale": 0,
            "seconds": 0.0,
            "validation_pending": False,
        }
        self.stop: StopRequest | None = None
        self._rng_before_validation = None  # set while a validation runs: what an interrupted one resumes from

    # -- resume -------------------------------------------------------------------------------

    def resume(self) -> None:
        """Continue from last.pt when it is this run's; otherwise start afresh, say why and
        keep the earlier run's files as *.previous."""
        saved = load_state(self.last_path)
        if saved is None:
            return
        found = differences(saved, self.parts, self.criterion.column)
        if found:
            self.accelerator.wait_for_everyone()  # every rank has read last.pt before rank 0 moves it
            moved = keep_previous(self.out_dir) if self.accelerator.is_main_process else []
            self.progress.say(
                f"{self.last_path} is another run's: it differs in {'; '.join(found)}. Starting afresh; "
                f"the earlier run is kept as {', '.join(moved)}."
            )
            return
        accelerator = self.accelerator
        accelerator.unwrap_model(self.model).load_state_dict(saved["model_state"])
        self.step_fn.load_state_dict(saved["step_state"])
        if accelerator.scaler is not None and saved.get("scaler") is not None:
            accelerator.scaler.load_state_dict(saved["scaler"])
        torch.set_rng_state(saved["rng_cpu"])
        if saved.get("rng_cuda") is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(saved["rng_cuda"])
        self.state = {k: saved[k] for k in self.state}
        self.progress.say(f"resuming from {self.last_path} at step {self.state['step']}; history so far:")
        for row in self.state["history"]:
            self.progress.say(f"  {format_row(row, self.recipe.steps, self.criterion)}")
        if self.state["validation_pending"]:
            self.progress.say(f"the validation of step {self.state['step']} was interrupted; validating again")

    def save(self, rng: tuple | None = None) -> None:
        """Write last.pt (rank 0); `rng`: the generators' states to save instead of the current ones."""
        if not self.accelerator.is_main_process:
            return
        rng_cpu, rng_cuda = rng or _rng_states()
        atomic_save(
            {
                "fingerprint": fingerprint_of(self.parts),
                "fingerprint_parts": self.parts,
                "model_state": self.accelerator.unwrap_model(self.model).state_dict(),
                "step_state": self.step_fn.state_dict(),
                "rng_cpu": rng_cpu,
                "rng_cuda": rng_cuda,
                "scaler": self.accelerator.scaler.state_dict() if self.accelerator.scaler is not None else None,
                **self.state,
            },
            self.last_path,
        )

    # -- the step loop --------------------------------------------------------------------------

    def _announce(self) -> None:
        accelerator, recipe, state = self.accelerator, self.recipe, self.state
        if state["step"] == 0:
            self.progress.say(
                f"{self.model_name}: {count_parameters(self.model) / 1e6:.3f} M parameters, {len(self.data.train)} "
                f"training items, sources {list(self.data.sources)}, device {accelerator.device}, "
                f"mixed precision {accelerator.mixed_precision}, loader workers {self.workers}"
            )
        if self.shared:
            self.progress.say(
                f"{accelerator.num_processes} processes ({accelerator.distributed_type.value}), "
                f"{recipe.batch_size // accelerator.num_processes} of each batch of {recipe.batch_size} per process"
            )
        if state["step"] and self._stopped_early():
            self.progress.say("stopped early before; nothing to do.")

    def _stopped_early(self) -> bool:
        return self.state["stale"] >= self.recipe.early_stop > 0

    def _due(self) -> bool:
        step = self.state["step"]
        return step % self.recipe.valid_every == 0 or step == self.recipe.steps

    def _loader(self) -> DataLoader:
        recipe, accelerator = self.recipe, self.accelerator
        sampler = StepBatches(
            len(self.data.train),
            recipe.batch_size,
            recipe.seed,
            self.state["step"],
            accelerator.process_index,
            accelerator.num_processes,
        )
        return training_loader(self.data.train, sampler, self.workers, recipe.seed)

    def train_step(self, batch) -> None:
        """One update; KeyboardInterrupt after it when a stop was asked for (on any rank)."""
        mixture, targets = (x.to(self.accelerator.device) for x in batch)
        terms = self.step_fn(mixture, targets)
        stop = self.stop.received > 0
        if self.shared:
            terms, stop = average_over_ranks(self.accelerator, terms, self.stop.received)
        loss = terms["loss"]
        if not math.isfinite(loss):
            raise SepflowError(
                f"{self.progress.tag} the loss became {loss} at step {self.state['step'] + 1}; "
                "lower train.lr or raise train.clip_grad in the config."
            )
        self.state["step"] += 1
        self.state["running"].append(loss)
        self.progress.step(self.state["step"], terms, self.step_fn.lr)
        if stop:
            raise KeyboardInterrupt(f"signal {self.stop.received or 'on another rank'}")

    # -- validate and checkpoint ------------------------------------------------------------------

    def validate_and_checkpoint(self) -> None:
        """Validate at the current step, then commit it (`_commit`), then TensorBoard and the
        log line. Interrupted before the commit, it is redone on resume."""
        self._rng_before_validation = _rng_states()
        scores = validate(
            self.step_fn,
            self.eval_model,
            self.data.valid,
            self.recipe.valid_items,
            self.accelerator,
            None if self.shared else (lambda: self.stop.received > 0),
        )
        self._refuse_unmeasured(scores)
        if self.on_validation is not None:  # before the commit: interrupted in it, the validation is redone
            metrics = {self.criterion.column: scores.value, "valid_si_snr": scores.si_snr}
            self.on_validation(self.state["step"], metrics, self.eval_model)
        row, best = self._commit(scores)
        self.progress.validation(row, best, scores.unscored, self.eval_model, self.accelerator.device)
        stop = self.stop.received > 0
        if self.shared:
            stop = average_over_ranks(self.accelerator, {}, self.stop.received)[1]
        if stop:
            raise KeyboardInterrupt(f"signal {self.stop.received or 'on another rank'}")

    def _refuse_unmeasured(self, scores: Scores) -> None:
        if math.isfinite(scores.value):
            return
        where = f"{self.progress.tag} the validation"
        if self.criterion.nan_is_divergence:
            raise SepflowError(f"{where} loss is {scores.value} at step {self.state['step']}; lower train.lr.")
        raise SepflowError(
            f"{where} could not score any item ({self.criterion.column}) at step {self.state['step']}: the "
            "estimates are silent or too short to score; lower train.lr or check the validation split."
        )

    def _commit(self, scores: Scores) -> tuple[dict, bool]:
        """All a validation changes, at once: the step's end of validation (a scheduler), the
        history row, best.pt, last.pt and history.csv. Returns the row and whether it is the best."""
        state, criterion, accelerator = self.state, self.criterion, self.accelerator
        step = state["step"]
        self.step_fn.end_validation(scores.value)
        row = history_row(
            step,
            sum(state["running"]) / len(state["running"]),
            criterion,
            scores.value,
            scores.si_snr,
            self.step_fn.lr,
            state["seconds"] + self.progress.elapsed(),
        )
        state["running"] = []
        state["history"].append(row)
        best = criterion.improves(scores.value, state["best"])
        if best:
            state["best"], state["stale"] = scores.value, 0
            if accelerator.is_main_process:
                model = accelerator.unwrap_model(self.model)
                checkpoint = model_checkpoint(self.model_name, self.model_args, self.data, model)
                checkpoint.update({"step": step, criterion.column: scores.value, "criterion": criterion.column})
                atomic_save(checkpoint, self.best_path)
        else:
            state["stale"] += 1
        state["seconds"], state["validation_pending"] = row["seconds"], False
        self._rng_before_validation = None
        self.progress.mark(step)
        self.save()
        if accelerator.is_main_process:
            write_history_csv(state["history"], self.out_dir / "history.csv")
        return row, best

    def _save_interrupted(self) -> None:
        """Save at the point reached: after a whole step, or with the validation of this step to
        redo (from the generators' states before it began)."""
        state = self.state
        validated = bool(state["history"]) and state["history"][-1]["step"] == state["step"]
        state["validation_pending"] = state["step"] > 0 and self._due() and not validated
        state["seconds"] += self.progress.elapsed()
        self.save(self._rng_before_validation if state["validation_pending"] else None)
        redo = " (its validation is redone on resume)" if state["validation_pending"] else ""
        self.progress.say(
            f"interrupted at step {state['step']}{redo}; state saved to {self.last_path}, rerun to resume."
        )

    # -- the whole run --------------------------------------------------------------------------

    def run(self) -> dict:
        """Train (or resume) and return the best model checkpoint dict (also at best.pt)."""
        self.resume()
        self._announce()
        self.progress.open(self.out_dir, self.state["step"], self.data, self.step_fn.estimate)
        batches = raising(self._loader())
        self.stop = StopRequest()
        try:
            if self.state["validation_pending"]:
                self.validate_and_checkpoint()
            while self.state["step"] < self.recipe.steps and not self._stopped_early():
                self.train_step(next(batches))
                if self._due():
                    self.validate_and_checkpoint()
            if self._stopped_early():
                self.progress.say(
                    f"early stop at step {self.state['step']}: no improvement in {self.recipe.early_stop} validations."
                )
        except KeyboardInterrupt:
            self._save_interrupted()
            raise
        finally:
            self.stop.restore()
            self.progress.close()
        sys.stdout.flush()
        if self.shared:
            self.accelerator.wait_for_everyone()  # best.pt is written by rank 0
        best = torch.load(self.best_path, map_location="cpu", weights_only=True)
        column = best.get("criterion", "valid_loss")
        self.progress.say(f"best {column} {best[column]:.4f} at step {best['step']}: {self.best_path}")
        return best


def train(
    model_name: str,
    model_args: dict,
    recipe: Recipe,
    data: TrainingData,
    out_dir: str | Path,
    device: str = "auto",
    name: str = "",
    on_validation: Callable[[int, dict[str, float], torch.nn.Module], None] | None = None,
    threads: int = 1,
) -> dict:
    """Train (or resume) and return the best model checkpoint dict (also at out_dir/best.pt);
    `threads` are this process's CPU threads (the loader's workers come from them).

    `on_validation(step, metrics, model)` is called after each validation with its measures (the
    step's criterion column and valid_si_snr) before the validation is committed (history, best.pt,
    last.pt): an exception it raises (a search pruning its trial) ends the training uncommitted and
    propagates, and a run interrupted in it validates that step again on resume."""
    trainer = Trainer(model_name, model_args, recipe, data, out_dir, device, name, on_validation, threads)
    return trainer.run()
