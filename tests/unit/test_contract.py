"""One core for every task: a four-source stereo music dataset and a paired speech dataset
go through the same train(), the same chunked inference and the same evaluation, with a
small multi-output model defined here."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import write_toy_data
from torch import nn

from sepflow.audio import read_audio
from sepflow.data.datasets import training_data
from sepflow.data.manifest import MUSIC_SOURCES, estimate_paths, read_manifest, stems_manifest, write_manifest
from sepflow.demo.music import synthesize_music
from sepflow.infer.offline import enhance_manifest, separate
from sepflow.infer.options import EnhanceOptions
from sepflow.metrics.evaluate import evaluate_manifest
from sepflow.models import MODELS
from sepflow.report.build import build_report
from sepflow.systems.checkpoint import CheckpointSystem
from sepflow.train.loop import train
from sepflow.train.recipe import Recipe


class Masker(nn.Module):
    """`sources` sigmoid masks on the mixture: (batch, channels, time) -> (batch, sources, channels, time)."""

    def __init__(self, sources: int = 4, channels: int = 2, hidden: int = 8, kernel: int = 5):
        super().__init__()
        self.sources, self.channels = sources, channels
        self.hidden = nn.Conv1d(channels, hidden, kernel, padding=kernel // 2)
        self.masks = nn.Conv1d(hidden, sources * channels, kernel, padding=kernel // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, channels, time = x.shape
        masks = torch.sigmoid(self.masks(torch.tanh(self.hidden(x))))
        return masks.view(batch, self.sources, channels, time) * x[:, None]


@pytest.fixture(autouse=True, scope="module")
def _masker_registered():
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(MODELS, "masker", f"{__name__}:Masker")
        yield


RECIPE = Recipe.from_config(
    {
        "steps": 4,
        "batch_size": 2,
        "segment": 0.3,
        "lr": 3e-3,
        "loss": {"name": "l1"},
        "valid_every": 2,
        "log_every": 2,
        "optimizer": "adamw",
        "seed": 1,
    }
)


@pytest.fixture(scope="module")
def music_data(tmp_path_factory) -> Path:
    """The demo music set (44.1 kHz stereo, MUSDB18 layout) and its stems manifests."""
    data = tmp_path_factory.mktemp("music") / "data"
    synthesize_music(data / "audio/music", n_train=2, n_test=1, seed=0, seconds=1.5)
    for split in ("train", "test"):
        manifest = stems_manifest(data / "audio/music" / split, data, "music", split, 44100)
        write_manifest(manifest, data / "manifests/music" / f"{split}.json")
    return data


def _train_enhance_evaluate(data: Path, dataset: str, valid: str, test: str, args: dict, tmp_path: Path):
    """The same library path for any task: manifests -> train -> separate -> evaluate."""
    train_set, valid_set, test_set = (
        read_manifest(data / f"manifests/{dataset}/{split}.json") for split in ("train", valid, test)
    )
    best = train(
        "masker",
        args,
        RECIPE,
        training_data(train_set, valid_set, RECIPE.segment, RECIPE.seed),
        tmp_path / "run",
        device="cpu",
    )
    torch.save(best, tmp_path / "model.pt")
    process = CheckpointSystem().load(
        test_set.sample_rate,
        test_set.sources,
        {"model": tmp_path / "model.pt"},
        EnhanceOptions(chunk_seconds=0.5, overlap_seconds=0.1),
        device="cpu",
    )
    enhance_manifest(process, test_set, tmp_path / "enhanced", test_set.sources)
    metrics = evaluate_manifest(test_set, tmp_path / "enhanced", tmp_path / "metrics.csv")
    return best, test_set, metrics


@pytest.fixture(scope="module")
def music_run(music_data, tmp_path_factory):
    folder = tmp_path_factory.mktemp("music_run")
    return (*_train_enhance_evaluate(music_data, "music", "test", "test", {}, folder), folder)


@pytest.fixture(scope="module")
def speech_run(tmp_path_factory):
    data = write_toy_data(tmp_path_factory.mktemp("toy") / "data")
    folder = tmp_path_factory.mktemp("speech_run")
    return (*_train_enhance_evaluate(data, "toy", "valid", "test", {"sources": 1, "channels": 1}, folder), folder)


def test_music_stems_train_separate_and_evaluate(music_run):
    best, test_set, metrics, folder = music_run
    assert (best["task"], best["sources"], best["channels"], best["sample_rate"]) == (
        "music",
        list(MUSIC_SOURCES),
        2,
        44100,
    )
    for item in test_set.items:
        mixture, _ = read_audio(test_set.mixture_path(item))
        paths = estimate_paths(folder / "enhanced", item["id"], test_set.sources)
        assert [p.relative_to(folder / "enhanced").as_posix() for p in paths.values()] == [
            f"{item['id']}/{source}.wav" for source in MUSIC_SOURCES
        ]
        for path in paths.values():
            assert read_audio(path)[0].shape == mixture.shape  # stereo, the input's length
    assert list(metrics["source"]) == list(MUSIC_SOURCES) * len(test_set.items)
    assert metrics[["sdr", "sir", "sar", "isr", "si_sdr"]].notna().all().all()
    assert "speech" not in set(metrics["source"])


def test_paired_speech_goes_through_the_same_functions(speech_run):
    best, test_set, metrics, folder = speech_run
    assert (best["task"], best["sources"], best["channels"]) == ("speech", ["speech"], 1)
    assert sorted(p.name for p in (folder / "enhanced").iterdir()) == [f"{it['id']}.wav" for it in test_set.items]
    assert len(metrics) == len(test_set.items) and "source" not in metrics
    assert np.isfinite(metrics["si_snr"]).all()


def test_one_report_for_both_tasks(music_run, speech_run, tmp_path):
    summary = build_report(
        {
            ("masker", "music/test"): music_run[-1] / "metrics.csv",
            ("masker", "toy/test"): speech_run[-1] / "metrics.csv",
        },
        tmp_path / "report",
    )
    music_rows = summary[summary["testset"] == "music/test"]
    assert list(music_rows["source"]) == list(MUSIC_SOURCES)
    text = (tmp_path / "report/summary.md").read_text()
    assert "## music/test" in text and "## toy/test" in text and "| vocals" in text


@pytest.mark.parametrize("length", [1, 4_001, 10_007])
@pytest.mark.parametrize("channels", [1, 2])
def test_chunked_separation_equals_whole_for_any_shape(length, channels):
    """A pointwise model gives the same output chunked or whole: overlap-add is exact."""
    torch.manual_seed(0)
    model = Masker(sources=4, channels=channels, kernel=1).eval()
    audio = np.random.default_rng(0).normal(size=(channels, length)).astype(np.float32)
    with torch.no_grad():
        whole = model(torch.from_numpy(audio)[None])[0].numpy()  # the model on the whole signal at once
    chunked = separate(model, audio, 4, channels, chunk=1_000, overlap=250)
    assert whole.shape == chunked.shape == (4, channels, length)
    np.testing.assert_allclose(chunked, whole, atol=1e-6)


def test_a_mono_model_hears_stereo_per_channel_or_downmixed():
    torch.manual_seed(0)
    model = Masker(sources=1, channels=1, kernel=1).eval()
    audio = np.random.default_rng(1).normal(size=(2, 3_001)).astype(np.float32)
    per_channel = separate(model, audio, 1, 1, chunk=1_000, overlap=100, channel_mode="per_channel")
    assert per_channel.shape == (1, 2, 3_001)
    for c in range(2):
        np.testing.assert_allclose(
            per_channel[:, c], separate(model, audio[c : c + 1], 1, 1, 1_000, 100)[:, 0], atol=1e-6
        )
    downmixed = separate(model, audio, 1, 1, chunk=1_000, overlap=100, channel_mode="downmix")
    np.testing.assert_allclose(downmixed, separate(model, audio.mean(0, keepdims=True), 1, 1, 1_000, 100), atol=1e-6)


def test_the_loop_never_names_signals_and_inference_does_not_import_training():
    src = Path(__file__).resolve().parents[2] / "src/sepflow"
    for path in (src / "train").rglob("*.py"):
        text = path.read_text().lower()
        assert "clean" not in text and "noisy" not in text, path
    for path in (src / "infer").rglob("*.py"):
        assert "sepflow.train" not in path.read_text(), path


def test_pcs_post_processing_is_an_inference_option(toy_data, tmp_path):
    """enhance: {pcs: true} stretches the estimate's contrast (SEMamba's PCS400) at 16 kHz."""
    from sepflow.audio.pcs import pcs400

    model = Masker(sources=1, channels=1)
    torch.save(model_checkpoint_for(model, toy_data), tmp_path / "model.pt")
    test_set = read_manifest(toy_data / "manifests/toy/test.json")
    audio, _ = read_audio(test_set.mixture_path(test_set.items[0]))
    model = {"model": tmp_path / "model.pt"}
    plain = CheckpointSystem().load(16000, ("speech",), model, EnhanceOptions(), device="cpu")(audio)
    stretched = CheckpointSystem().load(16000, ("speech",), model, EnhanceOptions(pcs=True), device="cpu")(audio)
    np.testing.assert_allclose(stretched, pcs400(torch.from_numpy(plain)).numpy(), atol=1e-6)
    assert not np.allclose(stretched, plain / np.abs(plain).max(), atol=1e-3)


def model_checkpoint_for(model, data_root):
    from sepflow.models.checkpoint import model_checkpoint

    train = read_manifest(data_root / "manifests/toy/train.json")
    data = training_data(train, train, 0.3, 0)
    return model_checkpoint("masker", {"sources": 1, "channels": 1}, data, model)
