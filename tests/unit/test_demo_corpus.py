"""The embedded demo corpus: eSpeak speech, noises, rooms, layout, determinism, config errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pyroomacoustics as pra
import pytest
import soundfile as sf

from sepflow.audio import rms_db, snr_db
from sepflow.demo.corpus import synthesize_demo
from sepflow.demo.music import STEMS, synthesize_music
from sepflow.demo.noise import GENERATORS, NOISE_LEVEL_DB, make_noise
from sepflow.demo.rooms import random_room
from sepflow.demo.settings import NOISE_TYPES
from sepflow.demo.speakers import speaker_panels
from sepflow.demo.speech import Speaker, synthesize_speech
from sepflow.errors import SepflowError

SENTENCE = "The quiet farmer carried the basket across the bridge."
ANNA = Speaker("en", "f2", 160, 60, 50)
BEN = Speaker("en-us", "m3", 160, 40, 50)
# Small but complete: two splits, every noise type in the pool, some reverberant pairs.
SMALL = dict(
    sizes={"train": 6, "test": 6},
    pool_sizes={"clean": 2, "noise": len(NOISE_TYPES), "impulse_responses": 2},
    reverb_fraction=0.5,
    rt60_range=(0.2, 0.4),
    rooms_per_split=2,
)


def all_files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def read_log(split_dir: Path) -> list[dict]:
    with (split_dir / "log.csv").open(newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    """The small corpus built three times: seed 0 with 1 and 2 workers, and seed 1."""
    root = tmp_path_factory.mktemp("demo")
    summaries = {
        "a": synthesize_demo(root / "a", seed=0, workers=1, **SMALL),
        "b": synthesize_demo(root / "b", seed=0, workers=2, **SMALL),
        "c": synthesize_demo(root / "c", seed=1, workers=1, **SMALL),
    }
    return root, summaries


# --- speech -------------------------------------------------------------------------------


def test_espeak_speaks_at_the_requested_rate():
    wide = synthesize_speech(SENTENCE, ANNA, 16000)
    narrow = synthesize_speech(SENTENCE, ANNA, 8000)
    assert wide.dtype == np.float32 and 1.5 < wide.size / 16000 < 6.0
    assert rms_db(wide) > -35.0  # speech, not silence
    assert abs(wide.size / 2 - narrow.size) <= 2


def test_voices_differ_and_repeat_exactly_regardless_of_history():
    first = synthesize_speech(SENTENCE, ANNA, 16000, seed=3)
    other = synthesize_speech(SENTENCE, BEN, 16000, seed=3)
    again = synthesize_speech(SENTENCE, ANNA, 16000, seed=3)
    assert first.shape != other.shape or not np.allclose(first, other)
    np.testing.assert_array_equal(first, again)


def test_unknown_voice_or_accent_is_a_sepflow_error():
    with pytest.raises(SepflowError, match="no voice variant"):
        synthesize_speech(SENTENCE, Speaker("en", "no-such-voice", 160, 50, 50), 16000)
    with pytest.raises(SepflowError, match="no language"):
        synthesize_speech(SENTENCE, Speaker("zz-qq", "f2", 160, 50, 50), 16000)


def test_speaker_panels_share_no_voice():
    panels = speaker_panels(["train", "valid", "test", "dns"], seed=0)
    variants = [{s.variant for s in panel} for panel in panels.values()]
    assert all(variants)
    assert sum(len(v) for v in variants) == len(set().union(*variants))


# --- noise and rooms ----------------------------------------------------------------------


@pytest.mark.parametrize("kind", NOISE_TYPES)
def test_noise_types_have_the_nominal_level(kind):
    rng = np.random.default_rng(0)
    noise = make_noise(kind, rng, 8000, 16000, talkers=[ANNA, BEN])
    assert noise.shape == (8000,) and np.isfinite(noise).all()
    assert abs(rms_db(noise) - NOISE_LEVEL_DB) < 0.01


@pytest.mark.parametrize("rt60_range", [(0.2, 0.25), (0.75, 0.8)])
def test_room_rt60_lands_in_range(rt60_range):
    room = random_room(np.random.default_rng(0), 16000, rt60_range)
    assert room.rir[0] == 1.0 and np.abs(room.rir).max() == 1.0  # direct path first, unit gain
    measured = pra.experimental.measure_rt60(room.rir, fs=16000, decay_db=20)
    assert measured == pytest.approx(room.rt60, abs=0.01)
    assert 0.85 * rt60_range[0] <= room.rt60 <= 1.15 * rt60_range[1]


# --- the corpus ---------------------------------------------------------------------------


def test_same_seed_same_bytes_for_any_worker_count(corpora):
    root, summaries = corpora
    a, b = all_files(root / "a"), all_files(root / "b")
    assert a.keys() == b.keys()
    assert [name for name in a if a[name] != b[name]] == []
    assert summaries["a"] == summaries["b"]


def test_different_seed_different_audio(corpora):
    root, _ = corpora
    a, c = all_files(root / "a"), all_files(root / "c")
    shared = set(a) & set(c)
    assert not any(a[name] == c[name] for name in shared if name.endswith(".wav"))


def test_layout_matches_voicebank_and_dns(corpora):
    root, summaries = corpora
    out = root / "a"
    for split, size in SMALL["sizes"].items():
        clean = sorted(p.name for p in (out / split / "clean").iterdir())
        noisy = sorted(p.name for p in (out / split / "noisy").iterdir())
        assert clean == noisy and len(clean) == size
        assert sorted(f"{row['id']}.wav" for row in read_log(out / split)) == clean
        for path in (out / split / "noisy").iterdir():
            info = sf.info(str(path))
            assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
    pools = SMALL["pool_sizes"]
    for pool, count in pools.items():
        assert len(list((out / "dns" / pool).glob("*.wav"))) == count
    assert {p.name.split("_")[0] for p in (out / "dns" / "noise").iterdir()} == set(NOISE_TYPES)
    assert json.loads((out / "summary.json").read_text()) == summaries["a"]
    assert summaries["a"]["splits"]["train"]["items"] == 6
    assert not [p for p in root.iterdir() if p.name.startswith(".")]  # no staging left behind


def test_train_and_test_speakers_are_disjoint(corpora):
    root, _ = corpora
    voices = {
        split: {row["voice"].split("_")[0].split("+")[1] for row in read_log(root / "a" / split)}
        for split in ("train", "test")
    }
    assert not voices["train"] & voices["test"]


def test_logged_snr_and_no_clipping(corpora):
    root, _ = corpora
    dry = reverberant = 0
    for split in SMALL["sizes"]:
        for row in read_log(root / "a" / split):
            clean, _ = sf.read(str(root / "a" / split / "clean" / f"{row['id']}.wav"))
            noisy, _ = sf.read(str(root / "a" / split / "noisy" / f"{row['id']}.wav"))
            assert max(np.abs(clean).max(), np.abs(noisy).max()) <= 0.99 + 1 / 32768
            if row["reverberant"] == "no":
                dry += 1
                assert snr_db(clean, noisy - clean) == pytest.approx(float(row["snr_db"]), abs=0.1)
                assert row["rt60"] == ""
            else:
                reverberant += 1
                assert 0.15 <= float(row["rt60"]) <= 0.5
            assert -5.0 <= float(row["snr_db"]) <= 15.0
    assert dry and reverberant


def test_a_failed_run_leaves_no_corpus_and_the_next_run_keeps_its_finished_pairs(tmp_path, monkeypatch):
    from sepflow.demo import corpus

    def fail(*args):
        raise RuntimeError("interrupted")

    small = dict(sizes={"test": 2}, reverb_fraction=0.0, pool_sizes={"clean": 1, "noise": 0, "impulse_responses": 0})
    with monkeypatch.context() as patch:
        patch.setattr(corpus, "_dns_clean_task", fail)
        with pytest.raises(RuntimeError):
            synthesize_demo(tmp_path / "demo", **small)
    assert [p.name for p in tmp_path.iterdir()] == [".demo.partial"]  # hidden, never taken for a corpus
    finished = {p.name: p.stat().st_ino for p in (tmp_path / ".demo.partial/test/noisy").glob("*.wav")}
    assert len(finished) == 2
    synthesize_demo(tmp_path / "demo", **small)
    assert [p.name for p in tmp_path.iterdir()] == ["demo"]
    assert {p.name: p.stat().st_ino for p in (tmp_path / "demo/test/noisy").glob("*.wav")} == finished
    assert len(list((tmp_path / "demo/dns/clean").glob("*.wav"))) == 1


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"sizes": {"train": -1}}, "sizes.train"),
        ({"sizes": {}}, "sizes"),
        ({"snr_range": (10.0, 0.0)}, "snr_range"),
        ({"snr_range": (0.0,)}, "snr_range"),
        ({"noise_types": ["pink", "jackhammer"]}, "noise_types"),
        ({"sample_rate": 12345}, "sample_rate"),
        ({"reverb_fraction": 1.5}, "reverb_fraction"),
        ({"utterance_seconds": (4.0, 1.0)}, "utterance_seconds"),
        ({"pool_sizes": {"speech": 3}}, "pool_sizes"),
        ({"pool_sizes": {"noise": -2}}, "pool_sizes.noise"),
        ({"rt60_range": (0.0, 0.5)}, "rt60_range"),
        ({"workers": 0}, "workers"),
        ({"seed": -1}, "seed"),
    ],
)
def test_bad_config_names_the_key(tmp_path, change, key):
    kwargs = {"sizes": {"test": 1}, **change}
    with pytest.raises(SepflowError, match=key.replace(".", r"\.")):
        synthesize_demo(tmp_path / "demo", **kwargs)
    assert list(tmp_path.iterdir()) == []


# --- music --------------------------------------------------------------------------------


def test_music_set_has_musdb_layout_and_sums(tmp_path):
    names = synthesize_music(tmp_path / "musdb", n_train=1, n_test=1, seed=0, seconds=2.0)
    assert len(names["train"]) == len(names["test"]) == 1
    track = tmp_path / "musdb" / "test" / names["test"][0]
    audio = {stem: sf.read(str(track / f"{stem}.wav"))[0] for stem in ("mixture", *STEMS)}
    assert all(a.shape == (88200, 2) for a in audio.values())
    assert sf.info(str(track / "mixture.wav")).samplerate == 44100
    assert all(rms_db(audio[stem]) > -40.0 for stem in STEMS)
    np.testing.assert_allclose(audio["mixture"], sum(audio[stem] for stem in STEMS), atol=4 / 32768)
    with pytest.raises(SepflowError, match="seconds"):
        synthesize_music(tmp_path / "bad", seconds=0.0)


def test_reverberant_target_keeps_direct_path_and_early_reflections():
    from sepflow.demo.corpus import EARLY_REFLECTIONS_S, early_part, reverberate

    rir = np.random.default_rng(0).normal(0, 0.1, 8000)
    rir[0] = 1.0
    early = early_part(rir, 16000)
    assert early.size == round(EARLY_REFLECTIONS_S * 16000)
    np.testing.assert_array_equal(early[:700], rir[:700])  # untouched before the fade
    assert abs(early[-1]) < 1e-3 * abs(rir[early.size - 1]) + 1e-12
    speech = np.random.default_rng(1).normal(0, 0.1, 4000)
    target, full = reverberate(speech, early), reverberate(speech, rir)
    assert target.shape == full.shape == speech.shape
    assert np.sum((full - target) ** 2) > 0  # the late tail is what the enhancer must remove


def test_the_settings_name_every_noise_generator():
    """The config check names the noise types without importing the synthesizers."""
    assert tuple(GENERATORS) == NOISE_TYPES
