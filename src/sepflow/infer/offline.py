"""Offline enhancement of whole files: chunked with overlap-add so memory stays bounded on
long recordings, and written atomically as a folder of WAVs named by item id."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from sepflow.audio.io import read_audio, write_audio
from sepflow.data.manifest import Manifest
from sepflow.files import atomic_folder


@torch.inference_mode()
def enhance_waveform(model: nn.Module, audio: np.ndarray, chunk: int, overlap: int, device="cpu") -> np.ndarray:
    """Run `model` on (channels, samples) audio. Files longer than `chunk` samples are cut into
    chunks overlapping by `overlap` and joined with a linear cross-fade."""
    x = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))
    n = x.shape[-1]
    if n <= chunk:
        return model(x[None].to(device))[0].float().cpu().numpy()
    hop = chunk - overlap
    out = torch.zeros_like(x)
    weight = torch.zeros(n)
    fade = torch.ones(chunk)
    ramp = torch.linspace(0, 1, overlap + 2)[1:-1]
    fade[:overlap], fade[chunk - overlap:] = ramp, ramp.flip(0)
    for start in range(0, n - overlap, hop):
        stop = min(start + chunk, n)
        piece = model(x[None, :, start:stop].to(device))[0].float().cpu()
        w = fade[: stop - start].clone()
        if start == 0:
            w[:overlap] = 1
        if stop == n:
            w[-min(overlap, stop - start):] = 1
        out[:, start:stop] += piece * w
        weight[start:stop] += w
    return (out / weight.clamp_min(1e-8)).numpy()


def enhance_manifest(
    process: Callable[[np.ndarray], np.ndarray],
    manifest: Manifest,
    out_dir: str | os.PathLike,
    log: Callable[[str], None] = print,
) -> Path:
    """Apply `process` to every noisy file of a paired manifest, writing {out_dir}/{id}.wav."""

    total = len(manifest.items)
    with atomic_folder(out_dir) as tmp:
        for i, item in enumerate(manifest.items, 1):
            noisy, sr = read_audio(manifest.paths(item)["noisy"], expected_sr=manifest.sample_rate)
            enhanced = process(noisy)
            write_audio(tmp / f"{item['id']}.wav", enhanced[..., : noisy.shape[-1]], sr)
            if i == total or i % max(1, total // 10) == 0:
                log(f"enhanced {i}/{total}")
    return Path(out_dir)
