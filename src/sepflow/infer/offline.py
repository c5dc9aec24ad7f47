"""Offline inference of whole files for any model: chunked with overlap-add so memory stays
bounded on long recordings, any number of output sources, channels handled on purpose,
and written atomically as a folder of WAVs laid out by item and source."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from sepflow.audio.io import read_audio, write_audio
from sepflow.data.manifest import Manifest, estimate_paths
from sepflow.errors import SepflowError
from sepflow.files import atomic_folder
from sepflow.models import as_sources

CHANNEL_MODES = ("per_channel", "downmix")
"""How a mono model hears a multi-channel file: each channel on its own (the output keeps
the input's channels), or their mean (the output is mono)."""


def overlap_add(
    apply: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, chunk: int, overlap: int
) -> torch.Tensor:
    """apply((channels, n)) -> (sources, channels', n) over (channels, T) input in chunks of
    `chunk` samples overlapping by `overlap`, joined with a linear cross-fade."""
    n = x.shape[-1]
    if n <= chunk:
        return apply(x)
    if not 0 <= overlap < chunk:
        raise SepflowError(
            f"enhance.overlap_seconds must be shorter than enhance.chunk_seconds ({overlap} >= {chunk} samples)."
        )
    hop = chunk - overlap
    out, weight = None, torch.zeros(n)
    fade = torch.ones(chunk)
    ramp = torch.linspace(0, 1, overlap + 2)[1:-1]
    fade[:overlap], fade[chunk - overlap :] = ramp, ramp.flip(0)
    for start in range(0, n - overlap, hop):
        stop = min(start + chunk, n)
        piece = apply(x[..., start:stop])
        if out is None:
            out = piece.new_zeros(*piece.shape[:-1], n)
        w = fade[: stop - start].clone()
        if start == 0:
            w[:overlap] = 1
        if stop == n:
            w[-min(overlap, stop - start) :] = 1
        out[..., start:stop] += piece * w
        weight[start:stop] += w
    return out / weight.clamp_min(1e-8)


def model_batch(x: torch.Tensor, model_channels: int, mode: str) -> tuple[torch.Tensor, Callable]:
    """Shape (channels, n) audio as the model's batch; return it and how to shape the
    (batch, sources, channels, n) output back to (sources, channels, n)."""
    channels = x.shape[0]
    if channels == model_channels:
        return x[None], lambda y: y[0]
    if model_channels == 1 and mode == "per_channel":
        return x[:, None], lambda y: y[:, :, 0].transpose(0, 1)
    if model_channels == 1 and mode == "downmix":
        return x.mean(0, keepdim=True)[None], lambda y: y[0]
    if channels == 1:  # a mono file through a multi-channel model: the same signal on each input
        return x.expand(model_channels, -1)[None], lambda y: y[0].mean(1, keepdim=True)
    raise SepflowError(
        f"the model takes {model_channels} channels but the audio has {channels}; "
        "downmix the audio or train a model on matching data."
    )


@torch.inference_mode()
def separate(
    model: nn.Module,
    audio: np.ndarray,
    n_sources: int,
    model_channels: int,
    chunk: int,
    overlap: int,
    device="cpu",
    channel_mode: str = "per_channel",
) -> np.ndarray:
    """Run `model` on (channels, samples) audio; (sources, channels, samples) out."""
    if channel_mode not in CHANNEL_MODES:
        raise SepflowError(f"channel mode must be one of {CHANNEL_MODES}, got {channel_mode!r}")
    x = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))

    def apply(piece: torch.Tensor) -> torch.Tensor:
        batch, unshape = model_batch(piece, model_channels, channel_mode)
        return unshape(as_sources(model(batch.to(device)), n_sources).float().cpu())

    return overlap_add(apply, x, chunk, overlap).numpy()


def enhance_manifest(
    process: Callable[[np.ndarray], np.ndarray],
    manifest: Manifest,
    out_dir: str | os.PathLike,
    sources: tuple[str, ...] | list[str],
    log: Callable[[str], None] = print,
) -> Path:
    """Apply `process` ((channels, T) -> (sources, channels, T)) to every mixture of a
    manifest, writing {id}.wav for one source or {id}/{source}.wav for several."""
    total = len(manifest.items)
    with atomic_folder(out_dir) as tmp:
        for i, item in enumerate(manifest.items, 1):
            mixture, sr = read_audio(manifest.mixture_path(item), expected_sr=manifest.sample_rate)
            if getattr(process, "uses_references", False):  # an oracle: it is given the truth
                references = [read_audio(p)[0] for p in manifest.target_paths(item).values()]
                estimates = process(mixture, np.stack(references))
            else:
                estimates = process(mixture)
            if estimates.shape[0] != len(sources):
                raise SepflowError(f"item {item['id']}: {estimates.shape[0]} estimates for sources {list(sources)}.")
            for estimate, path in zip(estimates, estimate_paths(tmp, item["id"], sources).values()):
                write_audio(path, estimate[..., : mixture.shape[-1]], sr)
            if i == total or i % max(1, total // 10) == 0:
                log(f"enhanced {i}/{total}")
    return Path(out_dir)
