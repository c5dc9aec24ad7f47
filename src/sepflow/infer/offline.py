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


class OverlapAdd:
    """apply((channels, n)) -> (sources, channels', n) over a signal fed in blocks of any size,
    in windows of `chunk` samples overlapping by `overlap`, joined with a linear cross-fade.
    Output comes as soon as no later window touches it, so memory is that of a window; the
    windows and weights are those of the whole signal (its length is known at `finish`)."""

    def __init__(self, apply: Callable[[torch.Tensor], torch.Tensor], chunk: int, overlap: int):
        if not 0 <= overlap < chunk:
            raise SepflowError(
                f"enhance.overlap_seconds must be shorter than enhance.chunk_seconds ({overlap} >= {chunk} samples)."
            )
        self.apply, self.chunk, self.overlap, self.hop = apply, chunk, overlap, chunk - overlap
        self.fade = torch.ones(chunk)
        ramp = torch.linspace(0, 1, overlap + 2)[1:-1]
        self.fade[:overlap], self.fade[chunk - overlap :] = ramp, ramp.flip(0)
        self.pending: torch.Tensor | None = None  # input from sample `offset` on
        self.offset = 0
        self.start = 0  # the next window's first sample
        self.out: torch.Tensor | None = None  # weighted sums from sample `emitted` on
        self.weight = torch.zeros(0)
        self.emitted = 0

    def _window(self, stop: int, last: bool) -> None:
        start = self.start
        piece = self.apply(self.pending[..., start - self.offset : stop - self.offset])
        w = self.fade[: stop - start].clone()
        if start == 0:
            w[: self.overlap] = 1
        if last:
            w[-min(self.overlap, stop - start) :] = 1
        grow = stop - self.emitted - (self.weight.shape[0])
        if self.out is None:
            self.out = piece.new_zeros(*piece.shape[:-1], 0)
        if grow > 0:
            self.out = torch.cat([self.out, piece.new_zeros(*piece.shape[:-1], grow)], -1)
            self.weight = torch.cat([self.weight, torch.zeros(grow)])
        self.out[..., start - self.emitted : stop - self.emitted] += piece * w
        self.weight[start - self.emitted : stop - self.emitted] += w
        self.start += self.hop

    def _emit(self, upto: int) -> torch.Tensor:
        n = upto - self.emitted
        done = self.out[..., :n] / self.weight[:n].clamp_min(1e-8)
        self.out, self.weight, self.emitted = self.out[..., n:], self.weight[n:], upto
        keep = self.start - self.offset  # input before the next window is not needed again
        self.pending, self.offset = self.pending[..., keep:], self.start
        return done

    def feed(self, x: torch.Tensor) -> torch.Tensor | None:
        """More input (channels, n); the output now final, or None."""
        self.pending = x if self.pending is None else torch.cat([self.pending, x], -1)
        available = self.offset + self.pending.shape[-1]
        if available <= self.start + self.chunk:  # a window ending at the last sample is the last one
            return None
        while available > self.start + self.chunk:
            self._window(self.start + self.chunk, last=False)
        return self._emit(self.start)

    def finish(self) -> torch.Tensor:
        """The rest of the output, once the input has ended."""
        n = self.offset + self.pending.shape[-1]
        if self.out is None and n <= self.chunk:  # one window: the model sees the whole signal
            return self.apply(self.pending)
        while self.start < n - self.overlap:
            stop = min(self.start + self.chunk, n)
            self._window(stop, last=stop == n)
        return self._emit(n)


def overlap_add(
    apply: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, chunk: int, overlap: int
) -> torch.Tensor:
    """apply((channels, n)) -> (sources, channels', n) over (channels, T) input in chunks of
    `chunk` samples overlapping by `overlap`, joined with a linear cross-fade."""
    if x.shape[-1] <= chunk:
        return apply(x)
    windows = OverlapAdd(apply, chunk, overlap)
    return torch.cat([windows.feed(x), windows.finish()], -1)


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


def output_channels(channels: int, model_channels: int, mode: str) -> int:
    """The channel count of the estimates of `channels`-channel audio (model_batch's rule)."""
    batch, unshape = model_batch(torch.zeros(channels, 1), model_channels, mode)
    return unshape(torch.zeros(batch.shape[0], 1, model_channels, 1)).shape[1]


def window_apply(
    model: nn.Module, n_sources: int, model_channels: int, device="cpu", channel_mode: str = "per_channel"
) -> Callable[[torch.Tensor], torch.Tensor]:
    """`model` as a function of one window: (channels, n) -> (sources, channels', n) on the CPU."""
    if channel_mode not in CHANNEL_MODES:
        raise SepflowError(f"channel mode must be one of {CHANNEL_MODES}, got {channel_mode!r}")

    def apply(piece: torch.Tensor) -> torch.Tensor:
        batch, unshape = model_batch(piece, model_channels, channel_mode)
        return unshape(as_sources(model(batch.to(device)), n_sources).float().cpu())

    return apply


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
    apply = window_apply(model, n_sources, model_channels, device, channel_mode)
    x = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))
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
