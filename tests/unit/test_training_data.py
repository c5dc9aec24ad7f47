"""The training data an experiment's manifests give: segments checked against the items."""

from __future__ import annotations

import pytest

from sepflow.data.datasets import training_data
from sepflow.data.manifest import read_manifest
from sepflow.errors import SepflowError


def test_a_segment_longer_than_every_training_item_is_refused_naming_both(toy_data):
    train, valid = (read_manifest(toy_data / f"manifests/toy/{split}.json") for split in ("train", "valid"))
    longest = max(train.items, key=lambda item: item["length"])
    seconds = f"{longest['length'] / 16000:.2f}"
    with pytest.raises(SepflowError) as caught:
        training_data(train, valid, 30.0, seed=0)
    assert str(caught.value).startswith(
        f"train.segment: 30.0 s is longer than every item of toy/train (the longest, {longest['id']}, is {seconds} s)"
    )
    data = training_data(train, valid, 0.9, seed=0)  # longer than some items only: those are padded
    assert data.train[(0, 0)][0].shape[-1] == round(0.9 * 16000)
