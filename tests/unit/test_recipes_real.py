"""Corpus recipes end to end on small archives in the real layouts, served over real HTTP on
127.0.0.1 (and a local git repository with LFS objects for DNS): download, extract, prepare,
then manifests with the right splits and counts."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import shutil
import subprocess
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import quiet

from sepflow.data.prepare import prepare_dataset
from sepflow.data.recipes import build_manifest, dns, musan, musdb, parse_dataset, rirs, vctk_demand
from sepflow.errors import SepflowError


def wav_bytes(sr: int, seconds: float, channels: int = 1, seed: int = 0) -> bytes:
    audio = 0.1 * np.random.default_rng(seed).normal(size=(int(sr * seconds), channels))
    buf = io.BytesIO()
    sf.write(buf, audio, sr, subtype="PCM_16", format="WAV")
    return buf.getvalue()


def make_zip(path: Path, files: dict[str, bytes]) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    return path.read_bytes()


def dataset(module, cfg, name="dataset"):
    """The registered recipe of `module` built from `cfg`, as the plan builds it."""
    return parse_dataset({"recipe": module.__name__.rsplit(".", 1)[1], **cfg}, f"datasets.{name}")


def run_recipe(module, cfg, tmp_path, name):
    raw, audio = tmp_path / "data/raw" / name, tmp_path / "data/audio" / name
    prepare_dataset(dataset(module, cfg, name), audio, raw, seed=0, workers=2, log=quiet)
    return raw, audio


def manifests(cfg, module, tmp_path, name):
    """Every split's manifest, built by the registry from the prepared folder."""
    recipe, audio = dataset(module, cfg, name), tmp_path / "data/audio" / name
    return {split: build_manifest(recipe, audio, tmp_path / "data", name, split) for split in recipe.splits()}


def with_hashes(remote, data: bytes):
    return dataclasses.replace(
        remote,
        md5=hashlib.md5(data).hexdigest() if remote.md5 else None,
        sha256=hashlib.sha256(data).hexdigest() if remote.sha256 else None,
        size=len(data) if remote.size else None,
    )


def test_vctk_demand_splits_speakers_and_resamples(server, tmp_path):
    utterances = {
        "train": ["p226_001", "p226_002", "p287_001", "p230_001", "p230_002", "p230_003"],
        "test": ["p232_001", "p232_002", "p257_001"],
    }
    for folder, (group, _) in vctk_demand.FOLDERS.items():
        make_zip(
            server.root / f"{folder}.zip",
            {f"{folder}/{u}.wav": wav_bytes(48000, 0.25, seed=i) for i, u in enumerate(utterances[group])},
        )
    cfg = {"recipe": "vctk_demand", "sample_rate": 16000, "mirror": server.url}
    raw, audio = run_recipe(vctk_demand, cfg, tmp_path, "vctk_demand")
    counts = {}
    for split, m in manifests(cfg, vctk_demand, tmp_path, "vctk_demand").items():
        counts[split] = sorted(it["id"] for it in m.items)
        assert all(it["length"] == 4000 for it in m.items) and m.kind == "paired"
    assert counts == {
        "train": ["p230_001", "p230_002", "p230_003"],
        "valid": ["p226_001", "p226_002", "p287_001"],
        "test": ["p232_001", "p232_002", "p257_001"],
    }
    assert sf.info(str(audio / "valid/noisy/p287_001.wav")).samplerate == 16000
    assert (raw / "clean_testset_wav.zip.sha256").is_file()  # no published checksum: the first one is kept


def test_vctk_demand_html_answer_stops_with_one_message(server, tmp_path):
    server.html.add("clean_trainset_28spk_wav.zip")
    cfg = {"sample_rate": 16000, "mirror": server.url}
    with pytest.raises(SepflowError, match="clean_trainset_28spk_wav.zip.*HTML page"):
        dataset(vctk_demand, cfg).download(tmp_path / "raw", quiet)


def test_vctk_demand_local_path_is_read_in_place(tmp_path):
    local = tmp_path / "mine"
    for folder, (group, _) in vctk_demand.FOLDERS.items():
        (local / folder).mkdir(parents=True)
        for u in ["p226_001", "p230_001"] if group == "train" else ["p232_001"]:
            (local / folder / f"{u}.wav").write_bytes(wav_bytes(48000, 0.1))
    before = sorted(p.name for p in local.rglob("*"))
    cfg = {"sample_rate": 16000, "local_path": str(local)}
    raw, audio = run_recipe(vctk_demand, cfg, tmp_path, "vctk_demand")
    assert not raw.exists() and sorted(p.name for p in local.rglob("*")) == before
    assert [len(list((audio / s / "clean").glob("*.wav"))) for s in ("train", "valid", "test")] == [1, 1, 1]
    assert sorted(dataset(vctk_demand, cfg).inputs()) == sorted(str(p) for p in local.rglob("*.wav"))


def test_musan_parts_become_pools(server, tmp_path, monkeypatch):
    layout = {
        "noise/free-sound/noise-free-sound-0000.wav": 1,
        "noise/sound-bible/noise-sound-bible-0000.wav": 1,
        "music/fma/music-fma-0000.wav": 1,
        "speech/us-gov/speech-us-gov-0000.wav": 1,
    }
    src = tmp_path / "src"
    for rel in layout:
        (src / "musan" / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / "musan" / rel).write_bytes(wav_bytes(16000, 0.2))
    (src / "musan/noise/free-sound/ANNOTATIONS").write_text("x\n")
    with tarfile.open(server.root / "musan.tar.gz", "w:gz") as t:
        t.add(src / "musan", arcname="musan")
    cfg = {"sample_rate": 16000, "mirror": server.url, "parts": ["noise", "music"]}
    with pytest.raises(SepflowError, match=r"musan.tar.gz .*offers \d+ bytes, but musan.tar.gz is 11086114085 bytes"):
        dataset(musan, cfg).download(
            tmp_path / "raw0", quiet
        )  # the published size guards the real file, before its body
    assert not (tmp_path / "raw0/musan.tar.gz.part").exists()
    monkeypatch.setattr(musan, "REMOTE", with_hashes(musan.REMOTE, (server.root / "musan.tar.gz").read_bytes()))
    _, audio = run_recipe(musan, cfg, tmp_path, "musan")
    pools = manifests(cfg, musan, tmp_path, "musan")
    noise, music = pools["noise"], pools["music"]
    assert sorted(pools) == ["music", "noise"]
    assert [it["id"] for it in noise.items] == ["noise-free-sound-0000", "noise-sound-bible-0000"]
    assert len(music.items) == 1 and not (audio / "speech").exists()


def test_rirs_slr26_rooms_and_slr28_real_and_point_noises(server, tmp_path, monkeypatch):
    files = {}
    for size in ("small", "medium", "large"):
        for room in (1, 2):
            files[f"simulated_rirs_16k/{size}room/Room00{room}/Room00{room}-00001.wav"] = wav_bytes(16000, 0.1)
    make_zip(server.root / "sim_rir_16k.zip", files)
    cfg = {"sample_rate": 16000, "source": "slr26", "mirror": server.url, "parts": ["small", "large"]}
    _, audio = run_recipe(rirs, cfg, tmp_path, "rirs26")
    pools = manifests(cfg, rirs, tmp_path, "rirs26")
    assert [it["id"] for it in pools["small"].items] == ["small_Room001-00001", "small_Room002-00001"]
    assert sorted(pools) == ["large", "small"] and len(pools["large"].items) == 2

    real = "RIRS_NOISES/real_rirs_isotropic_noises"
    files = {
        f"{real}/air_type1_air_binaural_aula_carolina_1_1_3_90_3.wav": wav_bytes(16000, 0.1, channels=2),
        f"{real}/RVB2014_type1_rir_largeroom1_near_angla.wav": wav_bytes(16000, 0.1, channels=8),
        f"{real}/RVB2014_type1_noise_largeroom1_1.wav": wav_bytes(16000, 0.1, channels=8),
        f"{real}/rir_list": (
            b"--rir-id air_1 --room-id air_aula RIRS_NOISES/real_rirs_isotropic_noises/"
            b"air_type1_air_binaural_aula_carolina_1_1_3_90_3.wav\n"
            b"--rir-id rvb_1 --room-id rvb_large RIRS_NOISES/real_rirs_isotropic_noises/"
            b"RVB2014_type1_rir_largeroom1_near_angla.wav\n"
        ),
        "RIRS_NOISES/pointsource_noises/noise-free-sound-0001.wav": wav_bytes(16000, 0.1),
        "RIRS_NOISES/simulated_rirs/smallroom/Room001/Room001-00001.wav": wav_bytes(16000, 0.1),
    }
    data = make_zip(server.root / "rirs_noises.zip", files)
    monkeypatch.setitem(rirs.REMOTES, "slr28", with_hashes(rirs.REMOTES["slr28"], data))
    cfg = {"sample_rate": 16000, "source": "slr28", "mirror": server.url}
    run_recipe(rirs, cfg, tmp_path, "rirs28")
    pools = manifests(cfg, rirs, tmp_path, "rirs28")
    assert len(pools["real"].items) == 2  # the isotropic noise is not a RIR
    assert all(sf.info(str(pools["real"].paths(it)["audio"])).channels == 1 for it in pools["real"].items)
    assert len(pools["point_noises"].items) == 1
    with pytest.raises(SepflowError, match="parts"):
        dataset(rirs, {"sample_rate": 16000, "source": "slr26", "parts": ["real"]})


def musdb_tracks() -> dict[str, str]:
    return {
        "A Band - Song": "train",
        "Actions - One Minute Smile": "train",
        "Leaf - Summerghost": "train",
        "Z Band - Other Song": "test",
    }


def test_musdb_hq_layout_and_validation_split(server, tmp_path, monkeypatch):
    files = {
        f"{subset}/{track}/{stem}.wav": wav_bytes(44100, 0.1, channels=2, seed=k)
        for track, subset in musdb_tracks().items()
        for k, stem in enumerate(musdb.STEMS)
    }
    data = make_zip(server.root / "musdb18hq.zip", files)
    monkeypatch.setitem(musdb.REMOTES, "hq", with_hashes(musdb.REMOTES["hq"], data))
    cfg = {"sample_rate": 44100, "variant": "hq", "mirror": server.url}
    _, audio = run_recipe(musdb, cfg, tmp_path, "musdb")
    tracks = {
        split: sorted(it["id"] for it in m.items) for split, m in manifests(cfg, musdb, tmp_path, "musdb").items()
    }
    assert tracks == {
        "train": ["A Band - Song"],
        "valid": ["Actions - One Minute Smile", "Leaf - Summerghost"],
        "test": ["Z Band - Other Song"],
    }
    assert sorted(p.stem for p in (audio / "test/Z Band - Other Song").glob("*.wav")) == sorted(musdb.STEMS)
    assert sf.info(str(audio / "train/A Band - Song/vocals.wav")).channels == 2


@pytest.mark.skipif(not shutil.which("ffmpeg"), reason=musdb.FFMPEG_HINT)
def test_musdb_stem_mp4_decoded_once_in_stream_order(server, tmp_path, monkeypatch):
    src = tmp_path / "stems"
    files = {}
    tracks = {t: s for t, s in musdb_tracks().items() if t != "Actions - One Minute Smile"}
    for track, subset in tracks.items():
        path = src / subset / f"{track}.stem.mp4"
        path.parent.mkdir(parents=True, exist_ok=True)
        # five streams, stream i a tone at 200 * (i + 1) Hz, so the stem order can be checked
        inputs = sum(
            (["-f", "lavfi", "-i", f"sine=frequency={200 * (i + 1)}:sample_rate=44100:duration=0.3"] for i in range(5)),
            [],
        )
        maps = sum((["-map", str(i)] for i in range(5)), [])
        subprocess.run(
            [
                "ffmpeg",
                "-loglevel",
                "error",
                "-y",
                *inputs,
                *maps,
                "-ac",
                "2",
                "-c:a",
                "aac",
                "-b:a",
                "128k",
                str(path),
            ],
            check=True,
        )
        files[f"{subset}/{track}.stem.mp4"] = path.read_bytes()
    data = make_zip(server.root / "MUSDB18-7-STEMS.zip", files)
    monkeypatch.setitem(musdb.REMOTES, "preview", with_hashes(musdb.REMOTES["preview"], data))
    _, audio = run_recipe(musdb, {"sample_rate": 22050, "mirror": server.url}, tmp_path, "musdb")
    assert len(list(audio.glob("*/*/mixture.wav"))) == 3 and (audio / "valid/Leaf - Summerghost").is_dir()
    for stem in musdb.STEMS:
        x, sr = sf.read(str(audio / "train/A Band - Song" / f"{stem}.wav"))
        assert sr == 22050 and x.shape[1] == 2
        segment = x[1000:5000, 0]
        peak = np.argmax(np.abs(np.fft.rfft(segment))) * sr / segment.size
        assert peak == pytest.approx(200 * (musdb.STREAM[stem] + 1), abs=10)


def git(*args, cwd):
    subprocess.run(
        ["git", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        env={
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@t",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@t",
            "HOME": str(cwd),
            "PATH": "/usr/bin:/bin:/usr/local/bin",
        },
    )


@pytest.fixture()
def dns_remote(tmp_path):
    """A bare repository with the DNS 2020 layout, its WAVs in git LFS on a local remote."""
    if subprocess.run(["git", "lfs", "version"], capture_output=True).returncode != 0:
        pytest.skip("git-lfs is not installed (apt-get install git-lfs)")
    work, bare = tmp_path / "dns-work", tmp_path / "dns.git"
    work.mkdir()
    git("init", "-q", "-b", "interspeech2020/master", cwd=work)
    git("lfs", "install", "--local", cwd=work)
    (work / ".gitattributes").write_text("*.wav filter=lfs diff=lfs merge=lfs -text\n")
    ds = work / "datasets"
    for i in range(10):
        (ds / "clean").mkdir(parents=True, exist_ok=True)
        (ds / "clean" / f"book_{i:05d}_chp_0001_reader_00001_{i}.wav").write_bytes(wav_bytes(16000, 0.2, seed=i))
    for i in range(6):
        (ds / "noise").mkdir(parents=True, exist_ok=True)
        (ds / "noise" / f"door_Freesound_validated_{i}.wav").write_bytes(wav_bytes(16000, 0.2, seed=50 + i))
    for kind in ("no_reverb", "with_reverb"):
        base = ds / "test_set/synthetic" / kind
        for side in ("clean", "noisy"):
            (base / side).mkdir(parents=True)
        for fid in (3, 11, 40):
            (base / "clean" / f"clean_fileid_{fid}.wav").write_bytes(wav_bytes(16000, 0.3, seed=fid))
            (base / "noisy" / f"clnsp{fid}_traffic_1_snr5_tl-21_fileid_{fid}.wav").write_bytes(
                wav_bytes(16000, 0.3, seed=100 + fid)
            )
    git("add", ".", cwd=work)
    git("commit", "-q", "-m", "data", cwd=work)
    git("init", "-q", "--bare", str(bare), cwd=tmp_path)
    git("remote", "add", "origin", f"file://{bare}", cwd=work)
    git("push", "-q", "origin", "interspeech2020/master", cwd=work)
    return f"file://{bare}"


def test_dns_pulls_only_what_the_config_asks(dns_remote, tmp_path):
    cfg = {"sample_rate": 16000, "mirror": dns_remote, "pools": {"clean": 0.5, "noise": 2}}
    raw, audio = run_recipe(dns, cfg, tmp_path, "dns")
    repo = raw / "DNS-Challenge"
    clean_files = sorted((repo / "datasets/clean").glob("*.wav"))
    fetched = [p for p in clean_files if not dns._is_pointer(p)]
    assert len(clean_files) == 10 and len(fetched) == 5  # the rest stay LFS pointers
    noise_fetched = [p for p in (repo / "datasets/noise").glob("*.wav") if not dns._is_pointer(p)]
    assert len(noise_fetched) == 2
    counts = {split: len(m.items) for split, m in manifests(cfg, dns, tmp_path, "dns").items()}
    assert counts == {"clean": 5, "noise": 2, "test_no_reverb": 3, "test_with_reverb": 3}
    pair = [sf.read(str(audio / "test_with_reverb" / side / "fileid_11.wav"))[0] for side in ("clean", "noisy")]
    original = sf.read(io.BytesIO(wav_bytes(16000, 0.3, seed=11)))[0]
    np.testing.assert_allclose(pair[0], original)  # fileid_11 clean is the clean_fileid_11 file
    assert sorted(p.name for p in (audio / "clean").glob("*.wav")) == sorted(p.name for p in fetched)


def test_dns_default_pulls_the_test_sets_only_and_local_copy_with_pointers_fails(dns_remote, tmp_path):
    cfg = {"sample_rate": 16000, "mirror": dns_remote}
    raw, audio = run_recipe(dns, cfg, tmp_path, "dns")
    assert sorted(p.name for p in audio.iterdir()) == ["test_no_reverb", "test_with_reverb"]
    assert all(dns._is_pointer(p) for p in (raw / "DNS-Challenge/datasets/clean").glob("*.wav"))
    local = {"sample_rate": 16000, "local_path": str(raw / "DNS-Challenge"), "pools": {"noise": 1}}
    assert len(dataset(dns, local).inputs()) == 3 * 2 * 2 + 1  # two test sets of 3 pairs, one noise file
    with pytest.raises(SepflowError, match="git-LFS pointer"):
        dataset(dns, local).prepare(tmp_path / "audio2", raw_dir=tmp_path / "unused", seed=0, workers=1, log=quiet)
