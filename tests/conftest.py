"""Shared fixtures: small generated audio, never downloaded, and the pesq package's reference pair."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from snakemake_runs import TINY, snakemake, write_config

from sepflow.audio import mix_at_snr, write_audio
from sepflow.data.manifest import paired_manifest, write_manifest

SR = 16000


class _Lines(logging.Handler):
    def __init__(self, on: Callable[[str], None] | None):
        super().__init__(logging.INFO)
        self.lines, self.on = [], on

    def emit(self, record: logging.LogRecord) -> None:
        line = record.getMessage()
        self.lines.append(line)
        if self.on is not None:
            self.on(line)  # may raise KeyboardInterrupt: a Ctrl-C that arrives as this line is said


@contextlib.contextmanager
def log_lines(on: Callable[[str], None] | None = None) -> Iterator[list[str]]:
    """The lines sepflow logs meanwhile; `on` hears each as it is said."""
    handler, logger = _Lines(on), logging.getLogger("sepflow")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield handler.lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


@pytest.fixture(autouse=True)
def _logging_as_found():
    """A test that sets up sepflow's logging (a command, a stage) leaves it as it found it."""
    logger = logging.getLogger("sepflow")
    handlers, level, propagate = list(logger.handlers), logger.level, logger.propagate
    yield
    logger.handlers[:] = handlers
    logger.setLevel(level)
    logger.propagate = propagate


@pytest.fixture(autouse=True)
def _one_thread():
    """Tests run at one thread: steady timings and no oversubscription on small machines."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def tone_speech(rng: np.random.Generator, seconds: float, sr: int = SR) -> np.ndarray:
    """A speech-like test signal: harmonic tones with a syllable-rate envelope."""
    t = np.arange(int(seconds * sr)) / sr
    f0 = rng.uniform(100, 220)
    voiced = sum(np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 6)) / k for k in range(1, 8))
    envelope = np.clip(np.sin(2 * np.pi * rng.uniform(2, 5) * t), 0, None) ** 2
    return (0.1 * voiced * envelope).astype(np.float32)


def make_paired_split(root: Path, split: str, n: int, seed: int, seconds=(0.6, 1.2)) -> Path:
    """Write {root}/{split}/clean|noisy/*.wav pairs at SNRs from -5 to 10 dB."""
    rng = np.random.default_rng(seed)
    for i in range(n):
        clean = tone_speech(rng, rng.uniform(*seconds))
        noisy, _ = mix_at_snr(clean, rng.normal(0, 0.05, clean.size).astype(np.float32), rng.uniform(-5, 10))
        for kind, audio in (("clean", clean), ("noisy", noisy)):
            write_audio(root / split / kind / f"{split}_{i:03d}.wav", audio, SR)
    return root / split


def write_toy_data(data: Path) -> Path:
    """A data folder with a tiny paired dataset `toy` (train/valid/test) and its manifests."""
    audio = data / "audio" / "toy"
    for split, n, seed in (("train", 12, 1), ("valid", 3, 2), ("test", 4, 3)):
        make_paired_split(audio, split, n, seed)
        write_manifest(
            paired_manifest(audio / split, data, "toy", split, SR), data / "manifests" / "toy" / f"{split}.json"
        )
    return data


@pytest.fixture
def toy_data(tmp_path) -> Path:
    return write_toy_data(tmp_path / "data")


PESQ_DIR = Path(__file__).resolve().parent / "data" / "pesq"


@pytest.fixture(scope="session")
def pesq_pair() -> tuple[np.ndarray, np.ndarray]:
    """Clean speech and the same speech in babble at 0 dB, from python-pesq (float32 as read)."""
    from sepflow.audio import read_audio

    clean, _ = read_audio(PESQ_DIR / "speech.wav", expected_sr=SR)
    noisy, _ = read_audio(PESQ_DIR / "speech_bab_0dB.wav", expected_sr=SR)
    return clean[0], noisy[0]


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """The tiny preset run to its report by real Snakemake, once for every test that reads it.
    Tests that change the folder put it back as they found it (ending at "Nothing to be done")."""
    workdir = tmp_path_factory.mktemp("tiny")
    write_config(workdir, TINY)
    snakemake(workdir)
    return workdir


@pytest.fixture()
def server(tmp_path):
    """A local HTTP server on 127.0.0.1 with Range support, serving tmp_path/www (created empty)."""
    from local_http import LocalServer  # beside the unit tests that use it

    with LocalServer(tmp_path / "www") as srv:
        srv.root.mkdir(parents=True)
        yield srv


@pytest.fixture
def small_disk():
    """mount(folder, size): a real tmpfs of `size` (e.g. "1m") at `folder`, as root; the test is
    skipped with the reason otherwise. resize(folder, size) frees space; all are unmounted after."""
    import os
    import subprocess

    mounted: list[Path] = []

    def mount(folder: Path, size: str) -> Path:
        if os.geteuid() != 0:
            pytest.skip("a full disk is tested on a tmpfs, and mounting one needs root")
        folder.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True)
        if done.returncode:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
        mounted.append(folder)
        return folder

    def resize(folder: Path, size: str) -> None:
        subprocess.run(["mount", "-o", f"remount,size={size}", str(folder)], check=True)

    mount.resize = resize
    yield mount
    for folder in reversed(mounted):
        subprocess.run(["umount", "-l", str(folder)], check=False)
