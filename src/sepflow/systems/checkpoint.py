"""A model checkpoint (results/{experiment}/model.pt, trained here or converted from released
weights) as a separator: chunked with overlap-add, channels as the experiment says, and
optionally SEMamba's PCS400 on the estimate."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import torch

from sepflow.audio.pcs import PCS_RATE, pcs400
from sepflow.device import make_accelerator
from sepflow.errors import SepflowError
from sepflow.infer.offline import separate
from sepflow.infer.options import EnhanceOptions
from sepflow.models.checkpoint import load_model
from sepflow.systems.base import Separator, System


class CheckpointSystem(System):
    """What inference knows of a trained or released model: it is the file `assets["model"]`."""

    kind: Literal["checkpoint"] = "checkpoint"
    config_key = ""  # not named in a config: trained and released systems become this for inference

    def load(
        self,
        sample_rate: int,
        sources: tuple[str, ...],
        assets: Mapping[str, str],
        enhance: EnhanceOptions,
        device: str = "auto",
    ) -> Separator:
        path = assets["model"]
        torch_device = make_accelerator(device, mixed_precision=False).device
        model, ckpt = load_model(path, torch_device)
        if ckpt["sample_rate"] != sample_rate:
            raise SepflowError(f"{path} was trained at {ckpt['sample_rate']} Hz but the test set is {sample_rate} Hz.")
        if tuple(ckpt["sources"]) != tuple(sources):
            raise SepflowError(f"{path} estimates {ckpt['sources']} but the test set has sources {list(sources)}.")
        chunk = round(enhance.chunk_seconds * sample_rate)
        overlap = round(enhance.overlap_seconds * sample_rate)

        def run(audio):
            return separate(
                model, audio, len(sources), ckpt["channels"], chunk, overlap, torch_device, enhance.channel_mode
            )

        if not enhance.pcs:
            return run
        if sample_rate != PCS_RATE:  # SEMamba's perceptual contrast stretching of the estimate
            raise SepflowError(f"enhance.pcs works at {PCS_RATE} Hz, the test set is {sample_rate} Hz; drop pcs.")
        return lambda audio: pcs400(torch.from_numpy(run(audio))).numpy()

    def facts(self, assets: Mapping[str, str], sample_rate: int) -> dict[str, Any]:
        """Parameters and real-time factor, at the checkpoint's own rate and channels."""
        from sepflow.infer.speed import checkpoint_facts

        return checkpoint_facts(assets["model"])


class ModelFileSystem(System):
    """A kind whose model file is results/{experiment}/model.pt, made by its own rule
    (`makes_model`): inference sees only that checkpoint."""

    def for_inference(self) -> System:
        return CheckpointSystem()

    def load(self, sample_rate, sources, assets, enhance, device="auto"):
        return self.for_inference().load(sample_rate, sources, assets, enhance, device)

    def facts(self, assets: Mapping[str, str], sample_rate: int) -> dict[str, Any]:
        return self.for_inference().facts(assets, sample_rate)
