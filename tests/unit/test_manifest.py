"""Manifests: format, determinism, and one clear error for each kind of bad data."""

import json

import numpy as np
import pytest

from sepflow.audio import write_audio
from sepflow.data.manifest import (
    MUSIC_SOURCES,
    file_hash,
    paired_manifest,
    pool_manifest,
    read_manifest,
    stems_manifest,
    write_manifest,
)
from sepflow.errors import SepflowError


def test_manifest_format_and_paths(toy_data):
    manifest = read_manifest(toy_data / "manifests/toy/train.json")
    raw = json.loads((toy_data / "manifests/toy/train.json").read_text())
    assert {k: raw[k] for k in ("dataset", "split", "task", "kind", "sample_rate", "sources")} == {
        "dataset": "toy",
        "split": "train",
        "task": "speech",
        "kind": "paired",
        "sample_rate": 16000,
        "sources": ["speech"],
    }
    item = raw["items"][0]
    assert item["clean"] == "audio/toy/train/clean/train_000.wav"
    assert item["noisy"] == "audio/toy/train/noisy/train_000.wav"
    assert item["length"] > 0
    clean = toy_data / item["clean"]
    assert item["files"]["clean"] == {"bytes": clean.stat().st_size, "hash": file_hash(clean)}
    assert raw["content_hash"] == manifest.content_hash
    assert manifest.paths(manifest.items[0])["clean"].is_file()


@pytest.fixture
def small_splits_in_workers(monkeypatch):
    """Worker processes for splits of any size (by default only large splits use them)."""
    monkeypatch.setattr("sepflow.data.manifest.PARALLEL_MIN_ITEMS", 0)


@pytest.mark.parametrize("threads", [1, 4])
def test_manifest_is_byte_identical_when_rebuilt_on_any_number_of_processes(
    toy_data, tmp_path, threads, small_splits_in_workers
):
    """The fixture's manifests were built in one process."""
    audio = toy_data / "audio/toy"
    again = paired_manifest(audio / "train", toy_data, "toy", "train", 16000, threads=threads)
    write_manifest(again, tmp_path / "again.json")
    assert (tmp_path / "again.json").read_bytes() == (toy_data / "manifests/toy/train.json").read_bytes()


def test_stems_and_pool_manifests_in_several_processes_equal_those_in_one(toy_data, tmp_path, small_splits_in_workers):
    rng = np.random.default_rng(0)
    for track in range(5):
        for name in ("mixture", *MUSIC_SOURCES):
            write_audio(tmp_path / f"audio/songs/train/t{track}/{name}.wav", 0.1 * rng.normal(size=(2, 441)), 44100)
    stems = [
        stems_manifest(tmp_path / "audio/songs/train", tmp_path, "songs", "train", 44100, threads=n) for n in (1, 3)
    ]
    assert len(stems[0].items) == 5 and stems[0].to_json() == stems[1].to_json()
    pool = toy_data / "audio/toy/train/clean"
    pools = [pool_manifest(pool, toy_data, "toy", "speech", 16000, threads=n) for n in (1, 3)]
    assert len(pools[0].items) > 1 and pools[0].to_json() == pools[1].to_json()


def test_the_first_bad_file_in_order_is_named_in_any_number_of_processes(toy_data, small_splits_in_workers):
    for name in ("train_001", "train_004"):
        write_audio(toy_data / f"audio/toy/train/clean/{name}.wav", [0.1] * 800, 8000)
    for threads in (1, 4):
        with pytest.raises(SepflowError, match=r"train_001.wav is 8000 Hz, expected 16000 Hz"):
            paired_manifest(toy_data / "audio/toy/train", toy_data, "toy", "train", 16000, threads=threads)


def test_missing_file_is_named(toy_data):
    (toy_data / "audio/toy/valid/noisy/valid_001.wav").unlink()
    with pytest.raises(SepflowError, match=r"item 'valid_001': noisy file .*valid_001.wav is missing"):
        read_manifest(toy_data / "manifests/toy/valid.json")


def test_wrong_sample_rate_is_named(toy_data):
    write_audio(toy_data / "audio/toy/valid/clean/valid_002.wav", [0.1] * 800, 8000)
    with pytest.raises(SepflowError, match=r"valid_002.wav is 8000 Hz but the manifest says 16000"):
        read_manifest(toy_data / "manifests/toy/valid.json")


def test_corrupt_file_is_named(toy_data):
    path = toy_data / "audio/toy/valid/clean/valid_000.wav"
    path.write_bytes(b"RIFF....garbage")
    with pytest.raises(SepflowError, match="valid_000.wav"):
        read_manifest(toy_data / "manifests/toy/valid.json")


def test_unpaired_and_empty_splits_are_refused(toy_data):
    (toy_data / "audio/toy/test/clean/test_003.wav").unlink()
    with pytest.raises(SepflowError, match="test_003.wav"):
        paired_manifest(toy_data / "audio/toy/test", toy_data, "toy", "test", 16000)
    empty = toy_data / "audio/empty/train"
    (empty / "clean").mkdir(parents=True)
    (empty / "noisy").mkdir()
    manifest = paired_manifest(toy_data / "audio/empty/train", toy_data, "empty", "train", 16000)
    with pytest.raises(SepflowError, match="empty manifest"):
        write_manifest(manifest, toy_data / "manifests/empty/train.json")
    assert not (toy_data / "manifests/empty/train.json").exists()


def test_a_file_changed_since_the_manifest_is_named(toy_data):
    path = toy_data / "audio/toy/valid/clean/valid_001.wav"
    write_audio(path, [0.1] * 100, 16000)
    with pytest.raises(SepflowError, match=r"valid_001.wav has \d+ bytes, the manifest recorded \d+: it changed"):
        read_manifest(toy_data / "manifests/toy/valid.json")


def test_content_hash_follows_the_audio_not_the_paths(toy_data, tmp_path):
    first = paired_manifest(toy_data / "audio/toy/test", toy_data, "toy", "test", 16000)
    path = toy_data / "audio/toy/test/noisy/test_000.wav"
    data = bytearray(path.read_bytes())
    data[-2:] = b"\x01\x00" if data[-2:] != b"\x01\x00" else b"\x02\x00"  # one sample, same size
    path.write_bytes(bytes(data))
    second = paired_manifest(toy_data / "audio/toy/test", toy_data, "toy", "test", 16000)
    assert first.content_hash != second.content_hash


def test_item_files_are_the_text_of_mixture_and_target_paths_for_every_kind(toy_data, tmp_path):
    for name in ("mixture", *MUSIC_SOURCES):
        write_audio(tmp_path / f"audio/songs/train/t0/{name}.wav", [[0.1] * 441] * 2, 44100)
    paired = read_manifest(toy_data / "manifests/toy/train.json")
    stems = stems_manifest(tmp_path / "audio/songs/train", tmp_path, "songs", "train", 44100)
    for manifest in (paired, stems):
        assert manifest.item_files() == [
            (str(manifest.mixture_path(it)), [str(p) for p in manifest.target_paths(it).values()], it["length"])
            for it in manifest.items
        ]
    pool = pool_manifest(toy_data / "audio/toy/train/clean", toy_data, "toy", "speech", 16000)
    assert pool.item_files() == [(str(pool.paths(it)["audio"]), [], it["length"]) for it in pool.items]
    assert set(paired.recorded_sizes()) == {str(p) for it in paired.items for p in paired.paths(it).values()}


def test_a_script_without_a_main_guard_builds_a_large_split_in_workers(toy_data, tmp_path):
    """As a Snakemake job's script does: module-level code, no `if __name__ == "__main__"`."""
    import subprocess
    import sys

    script = tmp_path / "job.py"
    script.write_text(
        "import sepflow.data.manifest as m\n"
        "from pathlib import Path\n"
        "m.PARALLEL_MIN_ITEMS = 0\n"
        f"data = Path({str(toy_data)!r})\n"
        "built = m.paired_manifest(data / 'audio/toy/train', data, 'toy', 'train', 16000, threads=2)\n"
        "print(built.to_json(), end='')\n"
    )
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout == (toy_data / "manifests/toy/train.json").read_text()
