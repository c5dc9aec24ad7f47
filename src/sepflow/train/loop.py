"""The training loop: Accelerate for devices and mixed precision, a pluggable step (the
optimisation of one batch: supervised, GAN, ...), periodic validation, early stopping,
atomic best/last checkpoints and automatic resume that continues the same curve.

The loop knows sources, not signals: datasets yield (mixture, targets) as the sample
contract says, and the checkpoint's task and source names come from the data.

Files under `out_dir`: last.pt (training state), best.pt (best model so far), history.csv,
tensorboard/. The returned model checkpoint (the best one) is what inference loads.

With several processes (`sepflow.train.launch`, one per GPU, or gloo on CPU) every rank
runs this same loop on its slice of each global batch; DDP averages the gradients, the
logged terms are averaged over ranks, validation items are split among the ranks and
gathered back in item order (so every rank takes the same best/stale/early-stop and
learning-rate decisions), and only rank 0 writes files and logs.
"""

from __future__ import annotations

import math
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch.utils.data import DataLoader
from torch.utils.tensorboard import SummaryWriter

from sepflow.data.datasets import TrainingData
from sepflow.data.segments import StepBatches
from sepflow.device import make_accelerator
from sepflow.errors import SepflowError
from sepflow.losses import build_loss
from sepflow.losses.metrics import batch_si_snr
from sepflow.models import as_sources, build_model, count_parameters
from sepflow.models.checkpoint import atomic_save, model_checkpoint
from sepflow.train.examples import ValidationExamples
from sepflow.train.history import format_row, write_history_csv
from sepflow.train.recipe import Recipe
from sepflow.train.steps import build_step, flat_sources


def _print(line: str) -> None:
    print(line, flush=True)


def _format_eta(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s"


@torch.no_grad()
def score_items(model, loss_fn, dataset, items, device) -> list[tuple[float, float]]:
    """(loss, SI-SNR in dB averaged over sources) of each whole validation item in `items`."""
    model.eval()
    scores = []
    for i in items:
        mixture, targets = (x[None].to(device) for x in dataset[i])
        estimate = as_sources(model(mixture), targets.shape[1]).float()
        scores.append(
            (
                loss_fn(flat_sources(estimate), flat_sources(targets)).item(),
                batch_si_snr(estimate.transpose(0, 1), targets.transpose(0, 1)).mean().item(),
            )
        )
    return scores


def _means(scores: list[tuple[float, float]]) -> tuple[float, float]:
    return sum(s[0] for s in scores) / len(scores), sum(s[1] for s in scores) / len(scores)


def validate(model, loss_fn, dataset, limit: int, accelerator) -> tuple[float, float]:
    """Mean loss and mean SI-SNR (dB, over sources) on whole validation items, dealt
    round-robin to the ranks: each scores its share once, and all gather every item's scores
    in item order, so every rank returns the same means as one process would (same values
    summed in the same order); with one process, it scores them all."""
    n, world, rank = min(limit or len(dataset), len(dataset)), accelerator.num_processes, accelerator.process_index
    per = -(-n // world)
    mine = score_items(model, loss_fn, dataset, range(rank, n, world), accelerator.device)
    padded = torch.full((per, 2), math.nan, dtype=torch.float64, device=accelerator.device)
    padded[: len(mine)] = torch.tensor(mine, dtype=torch.float64).reshape(-1, 2)
    gathered = accelerator.gather(padded).reshape(world, per, 2).transpose(0, 1).reshape(-1, 2)[:n]
    return _means([tuple(row) for row in gathered.tolist()])


class StopRequest:
    """SIGTERM/SIGINT recorded rather than raised, for ranks that must stop together: the
    loop checks the flag with the other ranks after each step, so no rank leaves a
    collective half done, and a repeated signal does not interrupt the save."""

    def __init__(self):
        self.received = 0
        self._previous = {sig: signal.signal(sig, self._record) for sig in (signal.SIGTERM, signal.SIGINT)}

    def _record(self, signum, frame):
        self.received = signum

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def average_over_ranks(accelerator, terms: dict[str, float], stop: int) -> tuple[dict[str, float], bool]:
    """The step's logged terms averaged over ranks (each is a mean over the rank's equal
    share of the batch, so this is the global batch's mean), and whether any rank was
    asked to stop."""
    values = torch.tensor([*terms.values(), float(stop > 0)], dtype=torch.float64, device=accelerator.device)
    values = accelerator.reduce(values, "sum").tolist()
    return {k: v / accelerator.num_processes for k, v in zip(terms, values)}, values[-1] > 0


def train(
    model_name: str,
    model_args: dict,
    recipe: Recipe,
    data: TrainingData,
    out_dir: str | Path,
    device: str = "auto",
    log: Callable[[str], None] = _print,
    name: str = "",
    on_validation: Callable[[int, dict, torch.nn.Module], None] | None = None,
) -> dict:
    """Train (or resume) and return the best model checkpoint dict (also at out_dir/best.pt).

    `on_validation(step, row, model)` is called after each validation, once its row (valid_loss,
    valid_si_snr, ...) is made and best.pt written but before last.pt is, so a resumed run repeats
    a validation whose call did not finish; an exception it raises (a search pruning its trial)
    ends the training and propagates."""
    out_dir = Path(out_dir)
    tag = f"[{name or model_name}]"
    accelerator = make_accelerator(device, recipe.mixed_precision)
    shared = accelerator.num_processes > 1
    if not accelerator.is_main_process:

        def log(line: str) -> None:  # rank 0 speaks for all
            pass

    fingerprint = recipe.fingerprint(model_name, model_args, data.fingerprint)

    torch.manual_seed(recipe.seed)
    model = accelerator.prepare(build_model(model_name, **model_args))
    loss_fn = build_loss(sample_rate=data.sample_rate, **recipe.loss).to(accelerator.device)
    step_fn = build_step(model, loss_fn, recipe, accelerator, data.sample_rate)
    state = {"step": 0, "history": [], "running": [], "best_loss": math.inf, "stale": 0, "seconds": 0.0}

    last_path, best_path = out_dir / "last.pt", out_dir / "best.pt"
    if last_path.is_file():
        saved = torch.load(last_path, map_location="cpu", weights_only=True)
        if saved.get("fingerprint") == fingerprint:
            accelerator.unwrap_model(model).load_state_dict(saved["model_state"])
            step_fn.load_state_dict(saved["step_state"])
            if accelerator.scaler is not None and saved.get("scaler") is not None:
                accelerator.scaler.load_state_dict(saved["scaler"])
            torch.set_rng_state(saved["rng_cpu"])
            if saved.get("rng_cuda") is not None and torch.cuda.is_available():
                torch.cuda.set_rng_state_all(saved["rng_cuda"])
            state = {k: saved[k] for k in state}
            log(f"{tag} resuming from {last_path} at step {state['step']}; history so far:")
            for row in state["history"]:
                log(f"{tag}   {format_row(row, recipe.steps)}")
        else:
            log(
                f"{tag} {last_path} was trained on other data or with another model or recipe "
                f"({saved.get('fingerprint')} != {fingerprint}); starting afresh."
            )

    if state["step"] == 0:
        log(
            f"{tag} {model_name}: {count_parameters(model) / 1e6:.3f} M parameters, {len(data.train)} training "
            f"items, sources {list(data.sources)}, device {accelerator.device}, "
            f"mixed precision {accelerator.mixed_precision}"
        )
    if shared:
        log(
            f"{tag} {accelerator.num_processes} processes ({accelerator.distributed_type.value}), "
            f"{recipe.batch_size // accelerator.num_processes} of each batch of {recipe.batch_size} per process"
        )
    if state["step"] and state["stale"] >= recipe.early_stop > 0:
        log(f"{tag} stopped early before; nothing to do.")
    writer = (  # TensorBoard drops the events an interrupted run wrote after its saved step
        SummaryWriter(str(out_dir / "tensorboard"), purge_step=state["step"] + 1 if state["step"] else None)
        if accelerator.is_main_process
        else None
    )
    examples = (
        ValidationExamples(data.valid, data.sources, data.sample_rate, recipe.examples) if writer is not None else None
    )
    sampler = StepBatches(
        len(data.train),
        recipe.batch_size,
        recipe.seed,
        state["step"],
        accelerator.process_index,
        accelerator.num_processes,
    )
    loader = DataLoader(
        data.train,
        batch_sampler=sampler,
        num_workers=recipe.num_workers,
        generator=torch.Generator().manual_seed(recipe.seed),
    )

    def checkpoint_training():
        if not accelerator.is_main_process:
            return
        atomic_save(
            {
                "fingerprint": fingerprint,
                "model_state": accelerator.unwrap_model(model).state_dict(),
                "step_state": step_fn.state_dict(),
                "rng_cpu": torch.get_rng_state(),
                "rng_cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
                "scaler": accelerator.scaler.state_dict() if accelerator.scaler is not None else None,
                **state,
            },
            last_path,
        )

    batches = iter(loader)
    started, start_step = time.monotonic(), state["step"]
    eval_model = accelerator.unwrap_model(model) if shared else model  # validation runs no DDP collectives
    stop_request = StopRequest() if shared else None
    try:
        while state["step"] < recipe.steps and not (state["stale"] >= recipe.early_stop > 0):
            mixture, targets = (x.to(accelerator.device) for x in next(batches))
            terms = step_fn(mixture, targets)
            stop = False
            if shared:
                terms, stop = average_over_ranks(accelerator, terms, stop_request.received)
            loss = terms["loss"]
            if not math.isfinite(loss):
                raise SepflowError(
                    f"{tag} the loss became {loss} at step {state['step'] + 1}; "
                    "lower train.lr or raise train.clip_grad in the config."
                )
            state["step"] += 1
            state["running"].append(loss)
            step = state["step"]
            elapsed = time.monotonic() - started
            if step % recipe.log_every == 0:
                rate = (step - start_step) / max(elapsed, 1e-9)
                others = "".join(f"  {k} {v:.4f}" for k, v in terms.items() if k != "loss")
                log(
                    f"{tag} step {step:>6}/{recipe.steps} ({100 * step / recipe.steps:5.1f}%)  loss {loss:.4f}{others}  "
                    f"lr {step_fn.lr:.2e}  {rate:5.2f} step/s  eta {_format_eta((recipe.steps - step) / max(rate, 1e-9))}"
                )
            if step % recipe.valid_every == 0 or step == recipe.steps:
                valid_loss, valid_si_snr = validate(eval_model, loss_fn, data.valid, recipe.valid_items, accelerator)
                if not math.isfinite(valid_loss):
                    raise SepflowError(f"{tag} the validation loss is {valid_loss} at step {step}; lower train.lr.")
                step_fn.end_validation(valid_loss)
                row = {
                    "step": step,
                    "train_loss": sum(state["running"]) / len(state["running"]),
                    "valid_loss": valid_loss,
                    "valid_si_snr": valid_si_snr,
                    "lr": step_fn.lr,
                    "seconds": state["seconds"] + time.monotonic() - started,
                }
                state["running"] = []
                state["history"].append(row)
                if valid_loss < state["best_loss"]:
                    state["best_loss"], state["stale"] = valid_loss, 0
                    if accelerator.is_main_process:
                        best = model_checkpoint(model_name, model_args, data, accelerator.unwrap_model(model))
                        atomic_save({**best, "step": step, "valid_loss": valid_loss}, best_path)
                else:
                    state["stale"] += 1
                if on_validation is not None:
                    on_validation(step, row, eval_model)
                state["seconds"], started, start_step = row["seconds"], time.monotonic(), step
                checkpoint_training()
                if accelerator.is_main_process:
                    write_history_csv(state["history"], out_dir / "history.csv")
                if writer is not None:
                    for key in ("train_loss", "valid_loss", "valid_si_snr", "lr"):
                        writer.add_scalar(key, row[key], step)
                    examples.write(writer, eval_model, step, accelerator.device)
                    writer.flush()
                log(f"{tag} {format_row(row, recipe.steps)}{'  *best' if state['stale'] == 0 else ''}")
            if stop:
                raise KeyboardInterrupt(f"signal {stop_request.received or 'on another rank'}")
        if state["stale"] >= recipe.early_stop > 0:
            log(f"{tag} early stop at step {state['step']}: no improvement in {recipe.early_stop} validations.")
    except KeyboardInterrupt:
        state["seconds"] += time.monotonic() - started
        checkpoint_training()
        log(f"{tag} interrupted at step {state['step']}; state saved to {last_path}, rerun to resume.")
        raise
    finally:
        if stop_request is not None:
            stop_request.restore()
        if writer is not None:
            writer.close()
    sys.stdout.flush()
    if shared:
        accelerator.wait_for_everyone()  # best.pt is written by rank 0
    return torch.load(best_path, map_location="cpu", weights_only=True)
