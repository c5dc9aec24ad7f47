"""An experiment's training and validation datasets, built from its `data:` section and
the manifests it names, by the manifests' kind. Every dataset follows the sample contract
and says its sources, sample rate, task and a fingerprint of the data it reads."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from torch.utils.data import Dataset

from sepflow.data.datasets.files import FileItems, FileSegments
from sepflow.data.datasets.specs import TrainingDataSpec
from sepflow.data.manifest import Manifest, read_manifest
from sepflow.errors import SepflowError
from sepflow.specs import SplitRef


@dataclass(frozen=True)
class TrainingData:
    train: Dataset  # indexed by (item, crop seed) keys from StepBatches
    valid: Dataset  # whole items, indexed by int
    sources: tuple[str, ...]
    channels: int
    sample_rate: int
    task: str
    fingerprint: str  # changes whenever any file trained or validated on changes


def training_data(train: Manifest, valid: Manifest, segment_seconds: float, seed: int) -> TrainingData:
    """Random crops of `train` and whole items of `valid` (paired or stems manifests)."""
    for manifest in (train, valid):
        if manifest.kind == "pool":
            raise SepflowError(
                f"{manifest.dataset}/{manifest.split} is a pool for on-the-fly mixing; "
                "train on a paired or stems split."
            )
    if (train.sources, train.sample_rate) != (valid.sources, valid.sample_rate):
        raise SepflowError(
            f"{train.dataset}/{train.split} and {valid.dataset}/{valid.split} differ in sources or "
            f"sample rate ({train.sources} at {train.sample_rate} Hz vs {valid.sources} at "
            f"{valid.sample_rate} Hz); train and validate on splits of one kind."
        )
    segment = round(segment_seconds * train.sample_rate)
    longest = max(train.items, key=lambda item: item["length"])
    if segment > longest["length"]:
        raise SepflowError(
            f"train.segment: {segment_seconds} s is longer than every item of {train.dataset}/{train.split} "
            f"(the longest, {longest['id']}, is {longest['length'] / train.sample_rate:.2f} s), so every "
            "training crop would be mostly padding; lower train.segment."
        )
    segments = FileSegments(train, segment, seed)
    return TrainingData(
        segments,
        FileItems(valid),
        train.sources,
        segments.channels,
        train.sample_rate,
        train.task,
        f"{train.content_hash}-{valid.content_hash}",
    )


def experiment_data(
    data: TrainingDataSpec, manifests: Mapping[str, str | Path], segment_seconds: float, seed: int
) -> TrainingData:
    """The TrainingData of an experiment's `data:` section: a train and a valid split of one
    dataset, or pools mixed on the fly; `manifests` maps each split's name to its manifest."""

    def manifest(split: SplitRef) -> Manifest:
        return read_manifest(manifests[split.name], check_files=False)  # each file is checked as it is read

    if data.mixing is not None:
        from sepflow.data.datasets.mixing import mixing_data  # it builds a TrainingData: import here

        return mixing_data(data.mixing, manifest, segment_seconds, seed)
    train, valid = data.splits()
    return training_data(manifest(train), manifest(valid), segment_seconds, seed)
