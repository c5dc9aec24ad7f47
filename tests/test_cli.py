"""The `sepflow` console command on real files: a stereo 44.1 kHz recording and a folder
through small speech checkpoints, streaming equal to offline, and one-line errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from sepflow.cli import main
from sepflow.models import build_model
from sepflow.models.checkpoint import atomic_save, model_checkpoint


class _Speech:
    """What a checkpoint records about its training data: 16 kHz mono speech."""

    sample_rate, task, sources, channels = 16000, "speech", ("speech",), 1


def _checkpoint(folder: Path, name: str, args: dict) -> Path:
    torch.manual_seed(0)
    model = build_model(name, **args).eval()
    return atomic_save(model_checkpoint(name, args, _Speech, model), folder / f"{name}.pt")


TCM_UNET = {"tcm_channels": 32, "tcm_hidden": 8}
CAUSAL_DEMUCS = {"hidden": 8, "depth": 4, "normalize": False}


@pytest.fixture(scope="module")
def tcm_unet(tmp_path_factory) -> Path:
    return _checkpoint(tmp_path_factory.mktemp("ckpt"), "tcm_unet", TCM_UNET)


def _noise(path: Path, seconds: float, rate: int, channels: int, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    sf.write(path, 0.1 * rng.standard_normal((round(seconds * rate), channels)).astype(np.float32), rate)
    return path


def test_stereo_44k_file_keeps_rate_channels_and_length(tcm_unet, tmp_path):
    noisy = _noise(tmp_path / "take.flac", 1.3, 44100, 2)
    out = tmp_path / "take.wav"
    assert main(["enhance", str(tcm_unet), str(noisy), str(out), "--quiet", "--device", "cpu"]) == 0
    audio, rate = sf.read(out, always_2d=True)
    assert rate == 44100 and audio.shape == (round(1.3 * 44100), 2)
    assert np.abs(audio).max() > 0


def test_downmix_gives_mono(tcm_unet, tmp_path):
    noisy = _noise(tmp_path / "take.wav", 0.5, 22050, 2)
    out = tmp_path / "mono.wav"
    assert main(["enhance", str(tcm_unet), str(noisy), str(out), "--quiet", "--channels", "downmix"]) == 0
    assert sf.info(out).channels == 1 and sf.info(out).frames == round(0.5 * 22050)


def test_folder_is_searched_recursively_and_mirrored(tcm_unet, tmp_path):
    (tmp_path / "in/sub").mkdir(parents=True)
    _noise(tmp_path / "in/a.wav", 0.4, 16000, 1)
    _noise(tmp_path / "in/sub/b.flac", 0.6, 48000, 2)
    (tmp_path / "in/notes.txt").write_text("not audio")
    assert main(["enhance", str(tcm_unet), str(tmp_path / "in"), str(tmp_path / "out"), "--quiet"]) == 0
    written = sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.wav"))
    assert written == ["a.wav", "sub/b.wav"]
    assert (sf.info(tmp_path / "out/sub/b.wav").samplerate, sf.info(tmp_path / "out/sub/b.wav").channels) == (48000, 2)


def test_long_file_in_chunks_matches_whole_file_closely(tcm_unet, tmp_path):
    noisy = _noise(tmp_path / "long.wav", 3.0, 16000, 1)
    whole, chunked = tmp_path / "whole.wav", tmp_path / "chunked.wav"
    main(["enhance", str(tcm_unet), str(noisy), str(whole), "--quiet", "--subtype", "FLOAT"])
    main(
        [
            "enhance",
            str(tcm_unet),
            str(noisy),
            str(chunked),
            "--quiet",
            "--subtype",
            "FLOAT",
            "--chunk-seconds",
            "1",
            "--overlap-seconds",
            "0.25",
        ]
    )
    a, b = sf.read(whole)[0], sf.read(chunked)[0]
    assert a.shape == b.shape and not np.array_equal(a, b)  # chunking ran and changed the edges only
    assert np.linalg.norm(a - b) / np.linalg.norm(a) < 0.5


@pytest.mark.parametrize(("name", "args"), [("tcm_unet", TCM_UNET), ("demucs", CAUSAL_DEMUCS)])
def test_stream_equals_offline(name, args, tmp_path):
    """The streamers' stated tolerance (tests/unit/test_streaming.py): relative error < 1e-5."""
    checkpoint = _checkpoint(tmp_path, name, args)
    noisy = _noise(tmp_path / "in.wav", 0.8, 16000, 2)
    offline, streamed = tmp_path / "offline.wav", tmp_path / "streamed.wav"
    common = ["--quiet", "--subtype", "FLOAT", "--device", "cpu"]
    assert main(["enhance", str(checkpoint), str(noisy), str(offline), *common]) == 0
    assert main(["enhance", str(checkpoint), str(noisy), str(streamed), "--stream", *common]) == 0
    a, b = sf.read(offline)[0], sf.read(streamed)[0]
    assert a.shape == b.shape == (12800, 2)
    assert np.linalg.norm(a - b) / np.linalg.norm(a) < 1e-5


def test_missing_input_is_one_line_and_status_2(tcm_unet, tmp_path, capsys):
    assert main(["enhance", str(tcm_unet), str(tmp_path / "nope.wav"), str(tmp_path / "out.wav")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("sepflow enhance: error: input not found") and "\n" not in err


def test_missing_checkpoint_is_one_line(tmp_path, capsys):
    noisy = _noise(tmp_path / "in.wav", 0.3, 16000, 1)
    assert main(["enhance", str(tmp_path / "model.pt"), str(noisy), str(tmp_path / "o.wav")]) == 2
    assert "checkpoint not found" in capsys.readouterr().err


def test_stream_refuses_a_non_causal_model_naming_the_fix(tmp_path, capsys):
    checkpoint = _checkpoint(tmp_path, "demucs", {"hidden": 4, "depth": 2, "causal": False})
    noisy = _noise(tmp_path / "in.wav", 0.3, 16000, 1)
    assert main(["enhance", str(checkpoint), str(noisy), str(tmp_path / "o.wav"), "--stream"]) == 2
    err = capsys.readouterr().err
    assert "cannot stream" in err and "drop --stream" in err


def test_evaluate_prints_the_pipeline_table(tmp_path, capsys):
    rng = np.random.default_rng(3)
    for folder in ("clean", "noisy", "enhanced"):
        (tmp_path / folder).mkdir()
    for k in range(3):
        clean = 0.1 * np.sin(2 * np.pi * 220 * np.arange(16000) / 16000) * (1 + rng.random(16000))
        noise = 0.05 * rng.standard_normal(16000)
        sf.write(tmp_path / f"clean/u{k}.wav", clean, 16000)
        sf.write(tmp_path / f"noisy/u{k}.wav", clean + noise, 16000)
        sf.write(tmp_path / f"enhanced/u{k}.wav", clean + 0.3 * noise, 16000)
    csv = tmp_path / "scores.csv"
    assert (
        main(
            [
                "evaluate",
                str(tmp_path / "enhanced"),
                str(tmp_path / "clean"),
                "--mixtures",
                str(tmp_path / "noisy"),
                "--csv",
                str(csv),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "| enhanced" in out and "SI-SNRi" in out and "95% confidence" in out
    import pandas as pd

    scores = pd.read_csv(csv)
    assert list(scores["id"]) == ["u0", "u1", "u2"]
    assert (scores["si_snr_i"] > 9).all()  # 0.3x the noise: about 10.5 dB better


def test_evaluate_says_why_a_silent_estimate_is_not_scored(tmp_path, capsys):
    for folder in ("clean", "est"):
        (tmp_path / folder).mkdir()
    _noise(tmp_path / "clean/x.wav", 1.0, 16000, 1)
    sf.write(tmp_path / "est/x.wav", np.zeros(16000, dtype=np.float32), 16000)
    assert main(["evaluate", str(tmp_path / "est"), str(tmp_path / "clean")]) == 0
    out = capsys.readouterr().out
    assert "n/a (1 failed)" in out
    assert "not measured, x: pesq_wb, pesq_nb, stoi, estoi, si_snr, snr" in out and "digitally silent" in out


def test_evaluate_says_which_estimate_is_late_and_by_how_much(tmp_path, capsys, pesq_pair):
    clean, noisy = pesq_pair
    for folder in ("clean", "noisy", "est"):
        (tmp_path / folder).mkdir()
    enhanced = clean + 0.3 * (noisy - clean)
    for name, estimate in (("aligned", enhanced), ("late", np.concatenate([np.zeros(480), enhanced[:-480]]))):
        sf.write(tmp_path / f"clean/{name}.wav", clean, 16000, subtype="FLOAT")
        sf.write(tmp_path / f"noisy/{name}.wav", noisy, 16000, subtype="FLOAT")
        sf.write(tmp_path / f"est/{name}.wav", estimate, 16000, subtype="FLOAT")
    command = ["evaluate", str(tmp_path / "est"), str(tmp_path / "clean"), "--mixtures", str(tmp_path / "noisy")]
    assert main([*command, "--composite", "loizou"]) == 0
    out = capsys.readouterr().out
    assert "not measured, late: stoi, estoi, si_snr, snr, si_snr_i, csig_loizou" in out
    assert out.count("the estimate is 480 samples late (30.0 ms)") == 1 and "not measured, aligned" not in out
    assert "(1 failed)" in out and "CSIG (composite.m)" in out and "CSIG (CMGAN)" not in out


def test_evaluate_names_a_missing_estimate(tmp_path, capsys):
    (tmp_path / "clean").mkdir()
    (tmp_path / "est").mkdir()
    _noise(tmp_path / "clean/x.wav", 0.5, 16000, 1)
    assert main(["evaluate", str(tmp_path / "est"), str(tmp_path / "clean")]) == 2
    assert "no estimate for" in capsys.readouterr().err


class _Music:
    sample_rate, task, sources, channels = 44100, "music", ("vocals", "drums", "bass", "other"), 2


def test_music_checkpoint_writes_stems_per_file(tmp_path):
    args = {"channels": 2, "basis": 8, "basis_kernel": 16, "hidden": 4, "depth": 2}
    torch.manual_seed(0)
    model = build_model("unet1d", **args).eval()
    checkpoint = atomic_save(model_checkpoint("unet1d", args, _Music, model), tmp_path / "music.pt")
    (tmp_path / "songs").mkdir()
    _noise(tmp_path / "songs/song.wav", 0.5, 48000, 1)  # mono 48 kHz into a stereo 44.1 kHz model
    assert main(["enhance", str(checkpoint), str(tmp_path / "songs"), str(tmp_path / "stems"), "--quiet"]) == 0
    stems = sorted(p.name for p in (tmp_path / "stems/song").iterdir())
    assert stems == ["bass.wav", "drums.wav", "other.wav", "vocals.wav"]
    info = sf.info(tmp_path / "stems/song/vocals.wav")
    assert (info.samplerate, info.channels, info.frames) == (48000, 1, 24000)


@pytest.mark.parametrize("system", ["deepfilternet3", "rnnoise"])
def test_an_external_system_runs_by_name_in_place_of_a_checkpoint(tmp_path, system):
    """`sepflow enhance deepfilternet3 IN OUT`: the peer runs at its own rate, the file keeps its own."""
    from sepflow.systems.external import EXTERNAL

    noisy = _noise(tmp_path / "take.flac", 0.7, 16000, 2)
    out = tmp_path / "take.wav"
    assert main(["enhance", system, str(noisy), str(out), "--quiet"]) == 0
    audio, rate = sf.read(out, always_2d=True)
    assert rate == 16000 and audio.shape == (round(0.7 * 16000), 2)
    direct = EXTERNAL.build(system, 16000, ("speech",))(sf.read(noisy, always_2d=True, dtype="float32")[0].T)
    assert np.corrcoef(audio[:, 0], direct[0, 0])[0, 1] > 0.9  # the same enhancer, through 48 kHz and back
