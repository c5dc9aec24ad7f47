"""Training trusts its manifests at the start and checks each file as it reads it: a start
looks at a constant number of files whatever the corpus size, and a file changed after its
manifest was made stops training with one line naming it and the target that remakes it."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sepflow.data.datasets import experiment_data
from sepflow.data.datasets.specs import TrainingDataSpec
from sepflow.data.manifest import paired_manifest, pool_manifest, write_manifest
from sepflow.errors import SepflowError

SR = 8000


def corpus(root: Path, n: int) -> dict[str, Path]:
    """data/ with a paired dataset `toy` (train: n items, valid: 2); its manifests by split name."""
    data = root / "data"
    rng = np.random.default_rng(n)
    manifests = {}
    for split, count in (("train", n), ("valid", 2)):
        folder = data / "audio/toy" / split
        for side in ("clean", "noisy"):
            (folder / side).mkdir(parents=True)
            for i in range(count):
                sf.write(folder / side / f"{i:05d}.wav", rng.normal(0, 0.1, SR // 2).astype(np.float32), SR)
        manifests[f"toy/{split}"] = data / f"manifests/toy/{split}.json"
        write_manifest(paired_manifest(folder, data, "toy", split, SR), manifests[f"toy/{split}"])
    return manifests


def spec() -> TrainingDataSpec:
    return TrainingDataSpec.parse({"dataset": "toy", "train": "train", "valid": "valid"}, "experiments.x.data")


class FileSystemCalls:
    """os.stat and soundfile opens, counted (pathlib's checks go through os.stat)."""

    def __init__(self, monkeypatch):
        self.count = 0
        stat, opened = os.stat, sf.SoundFile.__init__

        def counted_stat(*a, **k):
            self.count += 1
            return stat(*a, **k)

        def counted_open(*a, **k):
            self.count += 1
            return opened(*a, **k)

        monkeypatch.setattr(os, "stat", counted_stat)
        monkeypatch.setattr(sf.SoundFile, "__init__", counted_open)


def test_a_training_start_looks_at_as_many_files_for_a_large_split_as_for_a_small_one(tmp_path, monkeypatch):
    small, large = corpus(tmp_path / "small", 4), corpus(tmp_path / "large", 64)
    counts = []
    for manifests in (small, large):
        calls = FileSystemCalls(monkeypatch)
        experiment_data(spec(), manifests, 0.25, 0)
        counts.append(calls.count)
        monkeypatch.undo()
    assert counts[0] == counts[1]  # 4 items or 64: the same few manifests and first files


def test_a_file_truncated_after_its_manifest_stops_training_naming_it_and_the_target(tmp_path):
    manifests = corpus(tmp_path, 4)
    data = experiment_data(spec(), manifests, 0.25, 0)
    target = tmp_path / "data/audio/toy/valid/noisy/00001.wav"
    with open(target, "r+b") as f:
        f.truncate(100)
    data.valid[0]  # the other items read as before
    with pytest.raises(SepflowError) as caught:
        data.valid[1]
    message = str(caught.value)
    assert "\n" not in message and str(target) in message and "has 100 bytes" in message
    assert f"snakemake --forcerun {tmp_path / 'data/audio/toy'}" in message


def test_a_deleted_or_resampled_file_is_named_too(tmp_path):
    manifests = corpus(tmp_path, 4)
    data = experiment_data(spec(), manifests, 0.25, 0)
    gone = tmp_path / "data/audio/toy/train/clean/00002.wav"
    gone.unlink()
    with pytest.raises(SepflowError, match=rf"{gone} \(toy/train\) was deleted since its manifest was made"):
        data.train[(2, 0)]
    resampled = tmp_path / "data/audio/toy/train/noisy/00003.wav"
    audio, _ = sf.read(resampled)
    sf.write(resampled, audio, SR * 2)  # the same bytes at another rate: the size alone would not tell
    with pytest.raises(SepflowError, match=r"is 16000 Hz, not 8000 Hz"):
        data.train[(3, 0)]


def test_a_mixing_pool_file_changed_after_its_manifest_is_named(tmp_path):
    data = tmp_path / "data"
    rng = np.random.default_rng(0)
    for pool in ("speech", "noise"):
        (data / "audio/pools" / pool).mkdir(parents=True)
        for i in range(3):
            sf.write(data / f"audio/pools/{pool}/{i}.wav", rng.normal(0, 0.1, SR).astype(np.float32), SR)
        write_manifest(
            pool_manifest(data / "audio/pools" / pool, data, "pools", pool, SR), data / f"manifests/pools/{pool}.json"
        )
    mixing = TrainingDataSpec.parse(
        {"mixing": {"speech": "pools/speech", "noise": "pools/noise", "valid_size": 2}}, "experiments.x.data"
    )
    manifests = {f"pools/{name}": data / f"manifests/pools/{name}.json" for name in ("speech", "noise")}
    training = experiment_data(mixing, manifests, 0.25, 0)
    for i in range(3):
        with open(data / f"audio/pools/noise/{i}.wav", "r+b") as f:
            f.truncate(200)
    with pytest.raises(SepflowError, match=r"audio/pools/noise/\d\.wav \(pools/noise\) has 200 bytes"):
        training.train[(0, 0)]
