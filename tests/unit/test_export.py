"""ONNX exports checked against PyTorch: the causal models' stream graphs equal sepflow's
streamers hop by hop (odd lengths, chunks that split hops, a reset between two files), the
offline graphs equal the models at any length, the model card states the checkpoint's facts,
deploy/stream.py runs without sepflow and matches, and a model that cannot stream says why."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from sepflow.errors import SepflowError
from sepflow.export import OnnxStreamer, card_markdown, export_model, load_onnx_separator, model_card, read_export
from sepflow.export.card import TRAINING_KEYS
from sepflow.export.offline import NOT_EXPORTABLE
from sepflow.export.results import results_provenance
from sepflow.export.runtime import OnnxOffline
from sepflow.models import build_model, count_parameters
from sepflow.models.checkpoint import atomic_save, load_model, model_checkpoint
from sepflow.models.streaming import make_streamer, stream

pytest.importorskip("onnxscript", reason="the export extra: pip install 'sepflow[export]'")

REPO = Path(__file__).resolve().parents[2]


class _Speech:
    sample_rate, task, sources, channels = 16000, "speech", ("speech",), 1


class _Music:
    sample_rate, task, sources, channels = 44100, "music", ("vocals", "drums", "bass", "other"), 2


def _checkpoint(path: Path, name: str, args: dict, data=_Speech) -> Path:
    torch.manual_seed(0)
    model = build_model(name, **args).eval()
    # Batch norms at their initial statistics are identities: move them so the export must carry them.
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 2.0)
    return atomic_save(model_checkpoint(name, args, data, model), path)


CAUSAL = {
    "tcm_unet demo": ("tcm_unet", {"tcm_channels": 128, "tcm_hidden": 32}),
    "tcm_unet reference": ("tcm_unet", {}),
    "demucs demo": ("demucs", {"hidden": 16, "depth": 4, "resample": 2, "causal": True}),
    "demucs dns48": ("demucs", {"hidden": 48, "causal": True}),
}


@pytest.fixture(scope="module", params=list(CAUSAL))
def causal_export(request, tmp_path_factory) -> tuple[Path, Path]:
    """(checkpoint, export folder) of each causal model at its demo and reference size."""
    name, args = CAUSAL[request.param]
    folder = tmp_path_factory.mktemp(request.param.replace(" ", "_"))
    checkpoint = _checkpoint(folder / "model.pt", name, args)
    return checkpoint, export_model(checkpoint, folder / "export")


def _speech_like(seconds: float, seed: int) -> torch.Tensor:
    """Harmonic bursts in noise, of an odd length, at a speech level."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * 16000) | 1) / 16000
    voiced = sum(np.sin(2 * np.pi * k * 140 * t) / k for k in range(1, 6)) * np.sin(2 * np.pi * 3 * t) ** 2
    return torch.from_numpy((0.2 * voiced + 0.05 * rng.standard_normal(t.size)).astype(np.float32))[None]


def _feed_in_chunks(streamer, audio: torch.Tensor, sizes: list[int]) -> torch.Tensor:
    """Feed chunks of the given sizes in turn (cycling), then flush."""
    outs, start, i = [], 0, 0
    while start < audio.shape[1]:
        outs.append(streamer.feed(audio[:, start : start + sizes[i % len(sizes)]]))
        start, i = start + sizes[i % len(sizes)], i + 1
    return torch.cat([*outs, streamer.flush()], dim=1)


def test_the_stream_graphs_equal_the_pytorch_streamer_over_two_files(causal_export):
    """Two files of odd lengths through one ONNX streamer (it resets between them), fed in
    chunks that split hops: each output equals the PyTorch streamer's. tcm_unet's goal is
    3e-7 absolute; Demucs sums in float64 and float32 in another order, within 2e-6 of the peak."""
    checkpoint, folder = causal_export
    model, ckpt = load_model(checkpoint)
    ours, theirs = OnnxStreamer(folder), make_streamer(model)
    for seconds, seed, sizes in ((1.53, 1, [97, 301, 5]), (0.71, 2, [ours.hop])):
        audio = _speech_like(seconds, seed)
        expected = stream(theirs, audio, 160)
        got = _feed_in_chunks(ours, audio, sizes)
        assert got.shape == expected.shape == audio.shape
        difference = (got - expected).abs().max().item()
        if ckpt["model"] == "tcm_unet":
            assert difference <= 3e-7
        else:
            assert difference <= 2e-6 * expected.abs().max().item()


def test_a_signal_shorter_than_the_first_hop_streams_like_pytorch(causal_export):
    checkpoint, folder = causal_export
    model, _ = load_model(checkpoint)
    ours = OnnxStreamer(folder)
    audio = _speech_like(0.9 * ours.first_hop / 16000, 3)
    expected = stream(make_streamer(model), audio, 64)
    got = stream(ours, audio, 64)
    assert got.shape == audio.shape
    assert (got - expected).abs().max().item() <= 2e-6 * expected.abs().max().item()


def test_the_offline_graph_equals_the_model_at_lengths_it_was_not_traced_at(causal_export):
    checkpoint, folder = causal_export
    model, _ = load_model(checkpoint)
    offline = OnnxOffline(folder)
    for length in (1, 2, 3, 999, 23_457):
        audio = _speech_like(length / 16000, 4)[:, :length].repeat(3, 1)[:, None]  # batch of 3
        if length < offline.min_length:  # shorter than the export found the graph right for: refused
            with pytest.raises(SepflowError, match=f"at least {offline.min_length} samples"):
                offline(audio.numpy())
            continue
        with torch.no_grad():
            expected = model(audio)[:, None].numpy()
        got = offline(audio.numpy())
        assert got.shape == (3, 1, 1, length)
        assert np.abs(got - expected).max() <= 2e-6 * max(np.abs(expected).max(), 1e-3)


def test_the_export_folder_states_every_state_tensor_and_its_graph_sizes(causal_export):
    checkpoint, folder = causal_export
    info = read_export(folder)
    spec = info["stream"]
    assert info["opset"] == 20 and "dynamo=True" in info["exporter"]
    assert [s["input"] for s in spec["states"]] == [f"state_in_{i}" for i in range(len(spec["states"]))]
    import onnxruntime as ort

    hop = ort.InferenceSession(str(folder / spec["graphs"]["hop"]))
    inputs = {i.name: i.shape for i in hop.get_inputs()}
    assert all(inputs[s["input"]] == s["shape"] for s in spec["states"])
    assert {o.name for o in hop.get_outputs()} == {"audio_out"} | {s["output"] for s in spec["states"]}
    assert info["files"] == {name: (folder / name).stat().st_size for name in info["files"]}
    assert all(f["relative"] <= info["parity_tolerance"] for f in info["parity"].values())


def test_the_model_card_states_the_checkpoint_and_the_given_scores(causal_export):
    checkpoint, folder = causal_export
    model, ckpt = load_model(checkpoint)
    streamer = make_streamer(model)
    written = json.loads((folder / "model_card.json").read_text())
    assert written["training"] == dict.fromkeys(TRAINING_KEYS, "not recorded") and written["scores"] == "not recorded"
    training = {"datasets": ["demo"], "splits": {"train": "train"}, "content_hashes": {"demo/train": "ab12"}}
    scores = {"demo/test": {"pesq_wb": 2.25, "si_snr": 11.5, "stoi": float("nan")}}
    card = model_card(ckpt, read_export(folder), training=training, scores=scores, licence="CC-BY-4.0")
    assert card["model"] == {
        "family": ckpt["model"],
        "arguments": ckpt["model_args"],
        "parameters": count_parameters(model),
        "task": "speech",
        "sources": ["speech"],
        "channels": 1,
    }
    assert card["sample_rate"] == 16000
    assert card["hop"] == {"samples": streamer.hop, "ms": 1000 * streamer.hop / 16000}
    assert card["algorithmic_latency"] == {"samples": streamer.latency, "ms": round(1000 * streamer.latency / 16000, 3)}
    assert card["training"] == {**training, "recipe": "not recorded", "steps": "not recorded"}
    assert card["scores"] == {"demo/test": {"pesq_wb": 2.25, "si_snr": 11.5, "stoi": None}}
    assert card["licence"] == "CC-BY-4.0" and written["licence"] == "not recorded"
    assert written["sepflow"].startswith("0.1.0, commit ") and "pystoi" in written["metrics"]["stoi"]
    assert card["export"]["graphs"] == read_export(folder)["files"]
    text = card_markdown(card)
    assert "| licence | CC-BY-4.0 |" in text and "stoi n/a" in text and 'ort.InferenceSession("stream_hop.onnx"' in text


def test_a_results_folder_gives_the_card_its_steps_and_report_scores(tmp_path):
    experiment = tmp_path / "results" / "tcm"
    (experiment / "train").mkdir(parents=True)
    (experiment / "train" / "history.csv").write_text(
        "step,train_loss,valid_loss,valid_si_snr,lr,seconds\n100,0.5,0.40,3.0,1e-3,10\n200,0.4,0.35,4.0,1e-3,20\n"
        "300,0.3,0.37,3.5,1e-3,30\n"
    )
    (tmp_path / "results" / "report").mkdir()
    (tmp_path / "results" / "report" / "summary.csv").write_text(
        "experiment,testset,n,pesq_wb_mean,pesq_wb_ci95,si_snr_mean\nnoisy,demo/test,32,1.5,0.1,2.0\n"
        "tcm,demo/test,32,2.1,0.1,9.5\n"
    )
    torch.save({"step": 200}, experiment / "model.pt")  # the kept step, as the trainer records it
    training, scores = results_provenance(experiment / "model.pt")
    assert training == {"steps": 300, "best_step": 200}
    assert scores == {"demo/test": {"n": 32, "pesq_wb": 2.1, "si_snr": 9.5}}
    assert results_provenance(tmp_path / "elsewhere.pt") == (None, None)


def _deploy(folder: Path, wav_in: Path, wav_out: Path) -> subprocess.CompletedProcess:
    """python deploy/stream.py FOLDER IN OUT in a process where sepflow and torch cannot be imported."""
    guard = (
        "import runpy, sys; sys.modules['sepflow'] = sys.modules['torch'] = None; "
        f"sys.argv = {[str(REPO / 'deploy' / 'stream.py'), str(folder), str(wav_in), str(wav_out)]!r}; "
        "runpy.run_path(sys.argv[0], run_name='__main__')"
    )
    return subprocess.run([sys.executable, "-I", "-c", guard], capture_output=True, text=True, timeout=300)


def test_deploy_stream_runs_without_sepflow_and_matches_the_pytorch_streamer(causal_export, tmp_path):
    checkpoint, folder = causal_export
    model, _ = load_model(checkpoint)
    audio = torch.cat([_speech_like(1.21, 5), _speech_like(1.21, 6)])  # stereo: each channel streams alone
    sf.write(tmp_path / "in.wav", audio.numpy().T, 16000, subtype="FLOAT")
    run = _deploy(folder, tmp_path / "in.wav", tmp_path / "out.wav")
    assert run.returncode == 0, run.stderr
    got, rate = sf.read(tmp_path / "out.wav", dtype="float32", always_2d=True)
    expected = torch.stack([stream(make_streamer(model), channel[None], 160)[0] for channel in audio]).numpy().T
    assert rate == 16000 and got.shape == expected.shape
    assert np.abs(got - expected).max() <= 2e-6 * np.abs(expected).max()


def test_deploy_stream_refuses_another_rate_in_one_line(causal_export, tmp_path):
    _, folder = causal_export
    sf.write(tmp_path / "in.wav", np.zeros(4800, np.float32), 48000)
    run = _deploy(folder, tmp_path / "in.wav", tmp_path / "o.wav")
    assert run.returncode == 1 and run.stderr.strip().count("\n") == 0
    assert "48000 Hz but the model runs at 16000 Hz" in run.stderr and not (tmp_path / "o.wav").exists()


def test_the_onnx_separator_streams_each_channel_like_the_pytorch_streamer(causal_export):
    checkpoint, folder = causal_export
    model, _ = load_model(checkpoint)
    audio = torch.cat([_speech_like(0.83, 7), _speech_like(0.83, 8)])
    separate = load_onnx_separator(folder, streaming=True, stream_chunk=160)
    got = separate(audio.numpy())
    expected = torch.stack([stream(make_streamer(model), channel[None], 160)[0] for channel in audio])
    assert got.shape == (1, 2, audio.shape[1]) and separate.sample_rate == 16000 and separate.sources == ["speech"]
    assert np.abs(got[0] - expected.numpy()).max() <= 2e-6 * expected.abs().max().item()


NON_CAUSAL = {
    "demucs": ({"hidden": 8, "depth": 3, "causal": False}, _Speech, "its LSTM is bidirectional"),
    "gatewave": ({"hidden": 4, "depth": 2}, _Speech, "centred in time"),
    "waveunet": ({"layers": 4, "extra_filters": 8}, _Speech, "centred in time"),
    "unet1d": ({"channels": 2, "basis": 16, "hidden": 8, "depth": 2}, _Music, "centred in time"),
}


@pytest.mark.parametrize("name", list(NON_CAUSAL))
def test_a_non_causal_model_refuses_to_stream_in_one_line_and_exports_offline(name, tmp_path):
    args, data, why = NON_CAUSAL[name]
    checkpoint = _checkpoint(tmp_path / "model.pt", name, args, data)
    folder = export_model(checkpoint, tmp_path / "export")
    info = read_export(folder)
    assert info["stream"] is None and why in info["stream_why"] and "\n" not in info["stream_why"]
    assert info["stream_why"].startswith(name) and "cannot stream" in info["stream_why"]  # named as the config does
    with pytest.raises(SepflowError, match="has no stream graph"):
        OnnxStreamer(folder)
    model, _ = load_model(checkpoint)
    audio = torch.from_numpy(np.random.default_rng(9).standard_normal((2, data.channels, 7_777)).astype(np.float32))
    with torch.no_grad():
        expected = model(audio).reshape(2, len(data.sources), data.channels, -1).numpy()
    got = OnnxOffline(folder)(audio.numpy())
    assert np.abs(got - expected).max() <= 2e-6 * np.abs(expected).max()


@pytest.mark.parametrize(
    ("name", "args"), [("spec_unet", {"base_filters": 4}), ("semamba", {"features": 4, "blocks": 1})]
)
def test_a_model_the_exporter_cannot_take_says_why_in_one_line(name, args, tmp_path):
    checkpoint = _checkpoint(tmp_path / "model.pt", name, args)
    with pytest.raises(SepflowError) as error:
        export_model(checkpoint, tmp_path / "export")
    message = str(error.value)
    assert "torch.istft" in message and "cannot stream" in message and "\n" not in message
    assert not (tmp_path / "export").exists()
    assert name in NOT_EXPORTABLE
