"""A user's own paired folder at 48 kHz becomes a dataset through the `paired_folder`
recipe: resampled to 16 kHz, trained on, enhanced and reported by a real Snakemake run.
The user's folder is never written, and a change to it rebuilds the prepared copy."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import tone_speech
from snakemake_runs import planned_outputs, sepflow_errors, snakemake, write_config

from sepflow.audio import audio_info, mix_at_snr, write_audio

USER_RATE = 48000


def make_user_folder(root: Path) -> Path:
    """{root}/{train,valid,test}/{clean,noisy}/*.wav at 48 kHz, as a user would have it."""
    rng = np.random.default_rng(5)
    for split, n in (("train", 6), ("valid", 2), ("test", 2)):
        for i in range(n):
            clean = tone_speech(rng, rng.uniform(0.8, 1.2), USER_RATE)
            noisy, _ = mix_at_snr(clean, rng.normal(0, 0.05, clean.size).astype(np.float32), 5.0)
            for side, audio in (("clean", clean), ("noisy", noisy)):
                write_audio(root / split / side / f"{split}_{i}.wav", audio, USER_RATE)
    return root


def tree_hashes(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def config(user: Path) -> dict:
    return {
        "seed": 3,
        "data_dir": "data",
        "results_dir": "results",
        "device": "cpu",
        "threads": {"train": 1, "enhance": 1, "evaluate": 1},
        "enhance": {"chunk_seconds": 1.0, "overlap_seconds": 0.25},
        "datasets": {
            "mine": {
                "recipe": "paired_folder",
                "path": str(user),
                "sample_rate": 16000,
                "splits": ["train", "valid", "test"],
            }
        },
        "experiments": {
            "noisy": {"baseline": "noisy", "test_sets": ["mine/test"]},
            "tiny": {
                "model": "gatewave",
                "args": {"hidden": 4, "depth": 2},
                "data": {"dataset": "mine", "train": "train", "valid": "valid"},
                "train": {"steps": 2, "batch_size": 2, "segment": 0.5, "loss": {"name": "l1"}, "valid_every": 2},
                "test_sets": ["mine/test"],
            },
        },
    }


@pytest.mark.slow
def test_a_users_48k_paired_folder_is_prepared_trained_on_and_reported(tmp_path):
    user = make_user_folder(tmp_path / "my_corpus")
    before = tree_hashes(user)
    workdir = tmp_path / "run"
    workdir.mkdir()
    write_config(workdir, config(user))
    snakemake(workdir)

    prepared = sorted((workdir / "data/audio/mine").rglob("*.wav"))
    assert len(prepared) == 20 and {audio_info(p).sample_rate for p in prepared} == {16000}
    summary = pd.read_csv(workdir / "results/report/summary.csv")
    assert set(summary["experiment"]) == {"noisy", "tiny"} and (summary["testset"] == "mine/test").all()
    assert tree_hashes(user) == before  # read in place, never written

    changed = user / "train/noisy/train_3.wav"
    write_audio(changed, 0.5 * np.ones(USER_RATE // 2, dtype=np.float32) * 0.1, USER_RATE)
    planned = planned_outputs(workdir)
    assert any(p.startswith("data/audio/mine") for p in planned) and "results/tiny/model.pt" in planned

    changed.write_bytes(changed.read_bytes()[:40])  # a truncated file in the user's folder
    proc = snakemake(workdir, check=False)
    assert proc.returncode != 0
    message = sepflow_errors(proc)
    assert len(message) == 1 and "train_3.wav" in message[0] and "corrupt" in message[0], proc.stderr[-3000:]
    assert not list((workdir / "data").rglob(".*.tmp"))  # nothing half-made left behind
