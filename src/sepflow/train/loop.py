"""The training loop: Accelerate for devices and mixed precision, Adam + ReduceLROnPlateau,
gradient clipping, periodic validation, early stopping, atomic best/last checkpoints and
automatic resume that continues the same curve.

Files under `out_dir`: last.pt (training state), best.pt (best model so far), history.csv,
tensorboard/. The returned model checkpoint (the best one) is what inference loads.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch.utils.data import DataLoader
from torch.utils.tensorboard import SummaryWriter

from sepflow.data.manifest import Manifest
from sepflow.data.segments import PairedSegments, PairedUtterances, StepBatches
from sepflow.errors import SepflowError
from sepflow.losses import build_loss
from sepflow.losses.metrics import batch_si_snr
from sepflow.models import build_model, count_parameters
from sepflow.train.checkpoint import atomic_save, model_checkpoint
from sepflow.train.device import make_accelerator
from sepflow.train.history import format_row, write_history_csv
from sepflow.train.recipe import Recipe


def _print(line: str) -> None:
    print(line, flush=True)


def _format_eta(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s"


@torch.no_grad()
def validate(model, loss_fn, dataset: PairedUtterances, limit: int, device) -> tuple[float, float]:
    """Mean loss and mean SI-SNR (dB) over whole validation utterances."""
    model.eval()
    losses, scores = [], []
    for i in range(min(limit or len(dataset), len(dataset))):
        noisy, clean = (x[None].to(device) for x in dataset[i])
        est = model(noisy).float()
        losses.append(loss_fn(est, clean).item())
        scores.append(batch_si_snr(est, clean).mean().item())
    return sum(losses) / len(losses), sum(scores) / len(scores)


def train(
    model_name: str,
    model_args: dict,
    recipe: Recipe,
    train_set: Manifest,
    valid_set: Manifest,
    out_dir: str | Path,
    device: str = "auto",
    log: Callable[[str], None] = _print,
    name: str = "",
) -> dict:
    """Train (or resume) and return the best model checkpoint dict (also at out_dir/best.pt)."""
    out_dir = Path(out_dir)
    tag = f"[{name or model_name}]"
    for manifest in (train_set, valid_set):
        if manifest.task != "speech" or "clean" not in manifest.items[0]:
            raise SepflowError(f"{manifest.dataset}/{manifest.split} is not a paired speech split; training needs clean/noisy pairs.")
    if train_set.sample_rate != valid_set.sample_rate:
        raise SepflowError("the training and validation splits have different sample rates.")
    sample_rate = train_set.sample_rate
    accelerator = make_accelerator(device, recipe.mixed_precision)
    fingerprint = recipe.fingerprint(model_name, model_args)

    torch.manual_seed(recipe.seed)
    model = build_model(model_name, **model_args)
    loss_fn = build_loss(**recipe.loss).to(accelerator.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=recipe.lr, betas=recipe.betas, weight_decay=recipe.weight_decay)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=recipe.lr_factor, patience=recipe.lr_patience)
    state = {"step": 0, "history": [], "running": [], "best_loss": math.inf, "stale": 0, "seconds": 0.0}

    last_path, best_path = out_dir / "last.pt", out_dir / "best.pt"
    if last_path.is_file():
        saved = torch.load(last_path, map_location="cpu", weights_only=True)
        if saved.get("fingerprint") == fingerprint:
            model.load_state_dict(saved["model_state"])
            optimizer.load_state_dict(saved["optimizer"])
            scheduler.load_state_dict(saved["scheduler"])
            torch.set_rng_state(saved["rng_cpu"])
            if saved.get("rng_cuda") is not None and torch.cuda.is_available():
                torch.cuda.set_rng_state_all(saved["rng_cuda"])
            state = {k: saved[k] for k in state}
            log(f"{tag} resuming from {last_path} at step {state['step']}; history so far:")
            for row in state["history"]:
                log(f"{tag}   {format_row(row, recipe.steps)}")
        else:
            log(f"{tag} {last_path} belongs to a different configuration; starting afresh.")

    model, optimizer = accelerator.prepare(model, optimizer)
    if state["step"] == 0:
        log(f"{tag} {model_name}: {count_parameters(model) / 1e6:.3f} M parameters, {len(train_set.items)} training "
            f"items, device {accelerator.device}, mixed precision {accelerator.mixed_precision}")
    if state["step"] and state["stale"] >= recipe.early_stop > 0:
        log(f"{tag} stopped early before; nothing to do.")
    writer = SummaryWriter(str(out_dir / "tensorboard"), purge_step=state["step"] or None) if accelerator.is_main_process else None
    segments = PairedSegments(train_set, round(recipe.segment * sample_rate), recipe.seed)
    sampler = StepBatches(len(segments), recipe.batch_size, recipe.seed, state["step"],
                          accelerator.process_index, accelerator.num_processes)
    loader = DataLoader(segments, batch_sampler=sampler, num_workers=recipe.num_workers,
                        generator=torch.Generator().manual_seed(recipe.seed))
    valid = PairedUtterances(valid_set)

    def checkpoint_training():
        unwrapped = accelerator.unwrap_model(model)
        atomic_save({
            "fingerprint": fingerprint, "model_state": unwrapped.state_dict(), "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(), "rng_cpu": torch.get_rng_state(),
            "rng_cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
            "scaler": accelerator.scaler.state_dict() if accelerator.scaler is not None else None,
            **state,
        }, last_path)

    batches = iter(loader)
    started, start_step = time.monotonic(), state["step"]
    try:
        while state["step"] < recipe.steps and not (state["stale"] >= recipe.early_stop > 0):
            noisy, clean = (x.to(accelerator.device) for x in next(batches))
            model.train()
            with accelerator.autocast():
                estimate = model(noisy)
            loss = loss_fn(estimate.float(), clean)
            if not torch.isfinite(loss):
                raise SepflowError(f"{tag} the loss became {loss.item()} at step {state['step'] + 1}; "
                                   "lower train.lr or raise train.clip_grad in the config.")
            optimizer.zero_grad(set_to_none=True)
            accelerator.backward(loss)
            if recipe.clip_grad > 0:
                accelerator.clip_grad_norm_(model.parameters(), recipe.clip_grad)
            optimizer.step()
            state["step"] += 1
            state["running"].append(loss.item())
            step = state["step"]
            elapsed = time.monotonic() - started
            if step % recipe.log_every == 0:
                rate = (step - start_step) / max(elapsed, 1e-9)
                log(f"{tag} step {step:>6}/{recipe.steps} ({100 * step / recipe.steps:5.1f}%)  loss {loss.item():.4f}  "
                    f"lr {optimizer.param_groups[0]['lr']:.2e}  {rate:5.2f} step/s  eta {_format_eta((recipe.steps - step) / max(rate, 1e-9))}")
            if step % recipe.valid_every == 0 or step == recipe.steps:
                valid_loss, valid_si_snr = validate(model, loss_fn, valid, recipe.valid_items, accelerator.device)
                if not math.isfinite(valid_loss):
                    raise SepflowError(f"{tag} the validation loss is {valid_loss} at step {step}; lower train.lr.")
                scheduler.step(valid_loss)
                row = {"step": step, "train_loss": sum(state["running"]) / len(state["running"]), "valid_loss": valid_loss,
                       "valid_si_snr": valid_si_snr, "lr": optimizer.param_groups[0]["lr"],
                       "seconds": state["seconds"] + time.monotonic() - started}
                state["running"] = []
                state["history"].append(row)
                if valid_loss < state["best_loss"]:
                    state["best_loss"], state["stale"] = valid_loss, 0
                    best = model_checkpoint(model_name, model_args, sample_rate, "speech", accelerator.unwrap_model(model))
                    atomic_save({**best, "step": step, "valid_loss": valid_loss}, best_path)
                else:
                    state["stale"] += 1
                state["seconds"], started, start_step = row["seconds"], time.monotonic(), step
                checkpoint_training()
                write_history_csv(state["history"], out_dir / "history.csv")
                if writer is not None:
                    for key in ("train_loss", "valid_loss", "valid_si_snr", "lr"):
                        writer.add_scalar(key, row[key], step)
                    writer.flush()
                log(f"{tag} {format_row(row, recipe.steps)}{'  *best' if state['stale'] == 0 else ''}")
        if state["stale"] >= recipe.early_stop > 0:
            log(f"{tag} early stop at step {state['step']}: no improvement in {recipe.early_stop} validations.")
    except KeyboardInterrupt:
        state["seconds"] += time.monotonic() - started
        checkpoint_training()
        log(f"{tag} interrupted at step {state['step']}; state saved to {last_path}, rerun to resume.")
        raise
    finally:
        if writer is not None:
            writer.close()
    sys.stdout.flush()
    return torch.load(best_path, map_location="cpu", weights_only=True)
