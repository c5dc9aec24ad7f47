"""No lost work: `sepflow enhance` never writes into its input nor over an output unasked,
long files stream through in bounded memory with today's results, a training state is told
from a model, a full disk is one line (on a real tmpfs) with nothing partial left, prepare
resumes file by file after a real SIGKILL, and leftovers of dead processes are removed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import quiet

from sepflow.cli import main
from sepflow.data.manifest import read_manifest
from sepflow.data.prepare import prepare_dataset
from sepflow.data.recipes import parse_dataset
from sepflow.data.staging import staging_folder
from sepflow.errors import SepflowError
from sepflow.models import build_model
from sepflow.models.checkpoint import atomic_save, model_checkpoint

REPO = Path(__file__).resolve().parents[1]


class _Speech:
    sample_rate, task, sources, channels = 16000, "speech", ("speech",), 1


@pytest.fixture(scope="module")
def model_pt(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    args = {"tcm_channels": 32, "tcm_hidden": 8}
    model = build_model("tcm_unet", **args).eval()
    return atomic_save(model_checkpoint("tcm_unet", args, _Speech, model), tmp_path_factory.mktemp("m") / "model.pt")


def noise(path: Path, seconds: float, rate: int = 16000, channels: int = 1, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    audio = 0.1 * np.random.default_rng(seed).standard_normal((round(seconds * rate), channels))
    sf.write(path, audio.astype(np.float32), rate)
    return path


def enhance(*args: str) -> int:
    return main(["enhance", *map(str, args), "--quiet", "--device", "cpu"])


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("sepflow enhance: error: ") and "\n" not in err, err
    return err


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# --- the CLI never writes into its input ------------------------------------------------------


def test_an_output_that_is_the_input_file_is_refused_even_through_a_link_or_with_overwrite(model_pt, tmp_path, capsys):
    take = noise(tmp_path / "take.wav", 0.5)
    before = take.read_bytes()
    (tmp_path / "link.wav").symlink_to(take)
    for output, extra in ((take, []), (tmp_path / "link.wav", []), (take, ["--overwrite"])):
        assert enhance(model_pt, take, output, *extra) == 2
        assert "is the input file" in one_line_error(capsys)
    assert take.read_bytes() == before


@pytest.mark.parametrize("where", ["in", "in/enhanced", "link_into_in"])
def test_an_output_folder_equal_to_or_inside_the_input_folder_is_refused(model_pt, tmp_path, capsys, where):
    noise(tmp_path / "in/a.wav", 0.3)
    noise(tmp_path / "in/sub/b.wav", 0.3, seed=1)
    (tmp_path / "link_into_in").symlink_to(tmp_path / "in/sub")
    before = snapshot(tmp_path / "in")
    assert enhance(model_pt, tmp_path / "in", tmp_path / where) == 2
    assert "is the input folder" in one_line_error(capsys)
    assert snapshot(tmp_path / "in") == before


def test_x_wav_and_x_flac_collide_naming_both_unless_extensions_are_mirrored(model_pt, tmp_path, capsys):
    noise(tmp_path / "in/x.wav", 0.3)
    noise(tmp_path / "in/x.flac", 0.4, rate=22050, seed=1)
    assert enhance(model_pt, tmp_path / "in", tmp_path / "out") == 2
    err = one_line_error(capsys)
    assert "x.flac and" in err and "x.wav would both be written to" in err and "--mirror-extensions" in err
    assert not (tmp_path / "out").exists()
    assert enhance(model_pt, tmp_path / "in", tmp_path / "out", "--mirror-extensions") == 0
    wav, flac = sf.info(tmp_path / "out/x.wav"), sf.info(tmp_path / "out/x.flac")
    assert (wav.format, wav.samplerate, wav.frames) == ("WAV", 16000, 4800)
    assert (flac.format, flac.samplerate, flac.frames) == ("FLAC", 22050, round(0.4 * 22050))


def test_an_existing_output_is_replaced_only_with_overwrite(model_pt, tmp_path, capsys):
    take = noise(tmp_path / "take.wav", 0.3)
    out = tmp_path / "out.wav"
    out.write_bytes(b"the user's earlier result")
    assert enhance(model_pt, take, out) == 2
    assert "exists; pass --overwrite" in one_line_error(capsys)
    assert out.read_bytes() == b"the user's earlier result"
    assert enhance(model_pt, take, out, "--overwrite") == 0
    assert sf.info(out).frames == 4800


def test_a_training_state_is_told_from_a_model_and_kept(toy_data, tmp_path, capsys):
    from sepflow.data.datasets import training_data
    from sepflow.train.loop import train
    from sepflow.train.recipe import Recipe

    recipe = Recipe(steps=2, batch_size=2, segment=0.5, valid_every=2, loss={"name": "l1"}, examples=0)
    manifests = [read_manifest(toy_data / "manifests/toy" / f"{split}.json") for split in ("train", "valid")]
    run = tmp_path / "results/small/train"
    train("gatewave", {"hidden": 4, "depth": 2}, recipe, training_data(*manifests, 0.5, 0), run, "cpu", log=quiet)
    state = (run / "last.pt").read_bytes()
    take = noise(tmp_path / "take.wav", 0.3)
    assert enhance(run / "last.pt", take, tmp_path / "out.wav") == 2
    err = one_line_error(capsys)
    assert "is a training state" in err and "at step 2" in err and str(run / "best.pt") in err
    assert "keep last.pt" in err and "Delete" not in err
    assert (run / "last.pt").read_bytes() == state and not (tmp_path / "out.wav").exists()
    assert enhance(run / "best.pt", take, tmp_path / "out.wav") == 0


# --- long files stream through with today's result ---------------------------------------------


def whole_file_today(model_pt: Path, noisy: Path, out: Path, subtype: str, chunk_s: float, overlap_s: float) -> Path:
    """The enhance path before streaming: the whole file read, resampled, separated,
    resampled back, cut to length and written (the library functions it called)."""
    from sepflow.audio import read_audio, resample, write_audio
    from sepflow.infer.offline import separate
    from sepflow.models.checkpoint import load_model

    model, ckpt = load_model(model_pt)
    rate = ckpt["sample_rate"]
    audio, sr = read_audio(noisy)
    estimate = separate(model, resample(audio, sr, rate), 1, 1, round(chunk_s * rate), round(overlap_s * rate))[0]
    back = resample(estimate, rate, sr)
    back = back[..., : audio.shape[-1]] if back.shape[-1] >= audio.shape[-1] else np.pad(back, ((0, 0), (0, 1)))
    return write_audio(out, back, sr, subtype=subtype)


@pytest.mark.parametrize(("subtype", "tolerance"), [("FLOAT", 1e-6), ("PCM_16", 1.5 / 32768)])
def test_a_long_stereo_file_at_another_rate_streams_to_the_whole_file_result(model_pt, tmp_path, subtype, tolerance):
    noisy = noise(tmp_path / "long.flac", 23.0, rate=44100, channels=2)  # 3 read blocks, 23 model windows
    streamed, whole = tmp_path / "streamed.wav", tmp_path / "whole.wav"
    flags = ["--subtype", subtype, "--chunk-seconds", "1", "--overlap-seconds", "0.25"]
    assert enhance(model_pt, noisy, streamed, *flags) == 0
    whole_file_today(model_pt, noisy, whole, subtype, 1.0, 0.25)
    a, rate_a = sf.read(streamed, always_2d=True)
    b, rate_b = sf.read(whole, always_2d=True)
    assert rate_a == rate_b == 44100 and a.shape == b.shape == (23 * 44100, 2)
    assert np.abs(a - b).max() <= tolerance and np.abs(a).max() > 0.01


def test_a_long_file_streams_through_a_causal_model_as_the_whole_signal_did(tmp_path):
    from sepflow.audio import read_audio, resample
    from sepflow.infer.offline import model_batch
    from sepflow.models.checkpoint import load_model
    from sepflow.models.streaming import make_streamer, stream

    torch.manual_seed(0)
    args = {"hidden": 8, "depth": 4, "normalize": False}
    model_pt = atomic_save(model_checkpoint("demucs", args, _Speech, build_model("demucs", **args)), tmp_path / "d.pt")
    noisy = noise(tmp_path / "long.wav", 21.3, rate=22050, channels=2)
    assert enhance(model_pt, noisy, tmp_path / "streamed.wav", "--stream", "--subtype", "FLOAT") == 0
    model, _ = load_model(model_pt)
    audio, sr = read_audio(noisy)
    batch, unshape = model_batch(torch.from_numpy(resample(audio, sr, 16000)), 1, "per_channel")
    with torch.inference_mode():
        whole = unshape(torch.stack([stream(make_streamer(model), b, 160) for b in batch])[:, None])[0].numpy()
    expected = resample(whole, 16000, sr)[:, : audio.shape[-1]]
    streamed = sf.read(tmp_path / "streamed.wav", always_2d=True)[0].T
    assert streamed.shape == expected.shape == audio.shape
    assert np.abs(streamed - expected).max() <= 1e-6


# --- a full disk: one line, nothing partial ------------------------------------------------------


def test_outputs_too_large_for_the_disk_are_refused_before_anything_is_written(model_pt, tmp_path, capsys, small_disk):
    disk = small_disk(tmp_path / "disk", "1m")
    take = noise(tmp_path / "take.wav", 10.0, rate=48000, channels=2)
    assert enhance(model_pt, take, disk / "out.wav") == 2
    err = one_line_error(capsys)
    assert f"no space left on the disk of {disk} (the outputs: 1.9 MB needed, 1.0 MB free)" in err
    assert list(disk.iterdir()) == []


def test_a_disk_that_fills_while_a_file_is_written_is_one_error_and_leaves_no_partial_file(tmp_path, small_disk):
    from sepflow.audio.io import AudioWriter
    from sepflow.disk import DiskFull

    disk = small_disk(tmp_path / "disk", "1m")
    block = 0.1 * np.ones((2, 48000), dtype=np.float32)
    with pytest.raises(DiskFull, match=f"no space left on the disk of {disk} "):
        with AudioWriter(disk / "long.wav", 48000, 2, 10 * 48000) as writer:
            for _ in range(10):  # 1.9 MB of PCM_16, written a second at a time
                writer.write(block)
    assert list(disk.iterdir()) == []


# --- prepare resumes file by file; leftovers of dead processes go -----------------------------------

DEMO = {
    "recipe": "demo",
    "sample_rate": 16000,
    "sizes": {"train": 8, "test": 3},
    "snr_range": [0, 10],
    "reverb_fraction": 0.3,
    "utterance_seconds": [1.2, 2.0],
    "pool_sizes": {"clean": 2, "noise": 2, "impulse_responses": 2},
}


def run_python(code: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    return subprocess.Popen([sys.executable, "-c", code], env=env, **kwargs)


def journal_lines(audio: Path) -> list[list]:
    path = staging_folder(audio) / ".journal"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []


def test_sigkill_during_prepare_keeps_finished_files_and_the_rerun_equals_an_uninterrupted_run(tmp_path):
    import psutil

    audio, raw = tmp_path / "data/audio/demo", tmp_path / "data/raw/demo"
    code = (
        "from sepflow.data.prepare import prepare_dataset\n"
        "from sepflow.data.recipes import parse_dataset\n"
        f"prepare_dataset(parse_dataset({DEMO!r}, 'datasets.demo'), {str(audio)!r}, {str(raw)!r}, seed=3, workers=2, log=lambda line: None)\n"
    )
    proc = run_python(code)
    deadline = time.monotonic() + 300
    while len([k for k, _ in journal_lines(audio) if k.startswith("pair/")]) < 4:
        assert proc.poll() is None and time.monotonic() < deadline, "the preparation ended before it was killed"
        time.sleep(0.05)
    workers = psutil.Process(proc.pid).children()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not audio.exists() and staging_folder(audio).is_dir()
    psutil.wait_procs(workers, timeout=10)
    assert not [w for w in workers if w.is_running() and w.status() != psutil.STATUS_ZOMBIE], "orphaned workers"

    rows = [row for key, row in journal_lines(audio) if key.startswith("pair/")]
    finished = {
        f"{key.split('/')[1]}/{side}/{row['id']}.wav"
        for key, row in journal_lines(audio)
        if key.startswith("pair/")
        for side in ("clean", "noisy")
    }
    before = {name: (staging_folder(audio) / name).stat() for name in finished}
    assert len(rows) >= 4
    prepare_dataset(parse_dataset(DEMO, "datasets.x"), audio, raw, seed=3, workers=2, log=quiet)
    after = {name: (audio / name).stat() for name in finished}
    assert {n: (s.st_ino, s.st_mtime_ns) for n, s in after.items()} == {
        n: (s.st_ino, s.st_mtime_ns) for n, s in before.items()
    }
    assert [p.name for p in audio.parent.iterdir()] == ["demo"]  # no staging, no leftovers
    uninterrupted = prepare_dataset(
        parse_dataset(DEMO, "datasets.x"), tmp_path / "once/demo", raw, seed=3, workers=1, log=quiet
    )
    assert snapshot(audio) == snapshot(uninterrupted)


def paired_folder(root: Path, n: int) -> dict:
    for side in ("clean", "noisy"):
        for k in range(n):
            noise(root / "train" / side / f"u{k}.wav", 0.2, rate=22050, seed=k)
    return {"recipe": "paired_folder", "path": str(root), "sample_rate": 16000, "splits": ["train"]}


def test_a_failed_prepare_keeps_what_it_finished_and_redoes_a_file_whose_source_changed(tmp_path):
    cfg = paired_folder(tmp_path / "mine", 6)
    sf.write(tmp_path / "mine/train/noisy/u5.wav", np.full(4410, np.nan, np.float32), 22050, subtype="FLOAT")
    audio = tmp_path / "data/audio/mine"
    with pytest.raises(SepflowError, match="u5.wav holds NaN"):  # the last file: the others are done
        prepare_dataset(parse_dataset(cfg, "datasets.x"), audio, tmp_path / "raw", seed=0, workers=1, log=quiet)
    kept = {
        p.relative_to(staging_folder(audio)).as_posix(): p.stat().st_ino for p in staging_folder(audio).rglob("*.wav")
    }
    assert len(kept) == 11 and "train/noisy/u5.wav" not in kept
    noise(tmp_path / "mine/train/noisy/u5.wav", 0.2, rate=22050, seed=5)
    noise(tmp_path / "mine/train/clean/u0.wav", 0.3, rate=22050, seed=99)  # changed since it was prepared
    prepare_dataset(parse_dataset(cfg, "datasets.x"), audio, tmp_path / "raw", seed=0, workers=1, log=quiet)
    now = {p.relative_to(audio).as_posix(): p.stat().st_ino for p in audio.rglob("*.wav")}
    assert len(now) == 12 and sf.info(audio / "train/clean/u0.wav").frames == 4800
    assert {k: v for k, v in now.items() if k in kept and k != "train/clean/u0.wav"} == {
        k: v for k, v in kept.items() if k != "train/clean/u0.wav"
    }
    assert now["train/clean/u0.wav"] != kept["train/clean/u0.wav"]


def dead_pid() -> int:
    proc = run_python("pass")
    proc.wait()
    return proc.pid


def test_leftovers_of_dead_processes_on_this_host_are_removed_and_others_kept(tmp_path):
    from sepflow.files import host_name

    cfg = paired_folder(tmp_path / "mine", 1)
    parent = tmp_path / "data/audio"
    dead, me = dead_pid(), os.getpid()
    removed = [
        f".mine.{dead}.abcdef12.tmp",  # earlier versions' atomic folder
        f"..mine.{dead}.abcdef12.tmp.partial-{dead}",  # and the demo's staging inside it
        f".mine.{host_name()}-{dead}.12345678.tmp",
    ]
    kept = [
        f".mine.{host_name()}-{me}.87654321.tmp",
        f".mine.elsewhere-{dead}.aaaaaaaa.tmp",
        f".other.{dead}.abcdef12.tmp",
    ]
    for name in removed + kept:
        (parent / name / "train").mkdir(parents=True)
    prepare_dataset(parse_dataset(cfg, "datasets.x"), parent / "mine", tmp_path / "raw", seed=0, workers=1, log=quiet)
    assert sorted(p.name for p in parent.iterdir()) == sorted(["mine", *kept])


def test_a_folder_being_prepared_by_a_live_process_is_refused_naming_it(tmp_path, monkeypatch):
    from sepflow.data import staging

    cfg = paired_folder(tmp_path / "mine", 2)
    audio = tmp_path / "data/audio/mine"
    holder = run_python(
        "import sys, time\n"
        "from sepflow.data.staging import resumable_folder\n"
        f"with resumable_folder({str(audio)!r}, 'other settings', log=lambda line: None):\n"
        "    print('holding', flush=True)\n"
        "    time.sleep(120)\n",
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "holding"
        monkeypatch.setattr(staging, "LOCK_WAIT", 0.5)
        with pytest.raises(SepflowError, match=f"is being prepared by process {holder.pid} on "):
            prepare_dataset(parse_dataset(cfg, "datasets.x"), audio, tmp_path / "raw", seed=0, workers=1, log=quiet)
    finally:
        holder.kill()
        holder.wait()
    prepare_dataset(
        parse_dataset(cfg, "datasets.x"), audio, tmp_path / "raw", seed=0, workers=1, log=quiet
    )  # its holder is gone
    assert len(list(audio.rglob("*.wav"))) == 4


# --- a deleted prepared folder names the target that remakes it -------------------------------------


def test_a_deleted_prepared_folder_names_the_snakemake_target_that_remakes_it(toy_data):
    import shutil

    shutil.rmtree(toy_data / "audio/toy")
    with pytest.raises(SepflowError) as err:
        read_manifest(toy_data / "manifests/toy/train.json")
    message = str(err.value)
    assert "the prepared folder is gone" in message and f"`snakemake {toy_data / 'audio/toy'}`" in message
    assert "`snakemake all_data`" in message
