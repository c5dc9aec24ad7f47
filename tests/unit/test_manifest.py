"""Manifests: format, determinism, and one clear error for each kind of bad data."""

import json

import pytest

from sepflow.audio import write_audio
from sepflow.data.manifest import file_hash, paired_manifest, read_manifest, write_manifest
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


def test_manifest_is_byte_identical_when_rebuilt(toy_data, tmp_path):
    audio = toy_data / "audio/toy"
    write_manifest(paired_manifest(audio / "train", toy_data, "toy", "train", 16000), tmp_path / "again.json")
    assert (tmp_path / "again.json").read_bytes() == (toy_data / "manifests/toy/train.json").read_bytes()


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
