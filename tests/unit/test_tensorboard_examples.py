"""TensorBoard examples during training: each validation writes the first few validation
items' input, estimates and references as audio and spectrogram images, read back here from
the event files; music gets one tag per source; `examples: 0` writes none; and the training
curve is the same with examples on and off."""

from __future__ import annotations

import io
import time
from pathlib import Path

import matplotlib
import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import log_lines
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch import nn
from torch.utils.tensorboard import SummaryWriter

from sepflow.data.datasets import training_data
from sepflow.data.manifest import MUSIC_SOURCES, read_manifest, stems_manifest, write_manifest
from sepflow.demo.music import synthesize_music
from sepflow.errors import SepflowError
from sepflow.models import MODELS, build_model
from sepflow.train.examples import ValidationExamples, spectrogram_image
from sepflow.train.loop import train
from sepflow.train.recipe import Recipe

BASE = dict(steps=4, batch_size=2, segment=0.25, lr=1e-3, loss={"name": "l1"}, valid_every=2, log_every=2, seed=3)
QUANTUM = 1 / 32767  # add_audio writes 16-bit PCM


class DitheredMasker(nn.Module):
    """A mask from a convolution of the input plus fresh noise at every call, in training and
    in eval mode: a model whose inference draws random numbers, which examples must not
    take from the training run."""

    def __init__(self, channels: int = 1):
        super().__init__()
        self.conv = nn.Conv1d(channels, channels, 5, padding=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.conv(x + 1e-2 * torch.randn_like(x))) * x


@pytest.fixture(autouse=True)
def _dithered_registered(monkeypatch):
    monkeypatch.setitem(MODELS, "dithered", f"{__name__}:DitheredMasker")


def run(data: Path, dataset: str, valid: str, out_dir: Path, model: str, args: dict, **recipe) -> Recipe:
    r = Recipe.from_config({**BASE, **recipe})
    train_set, valid_set = (read_manifest(data / f"manifests/{dataset}/{split}.json") for split in ("train", valid))
    train(model, args, r, training_data(train_set, valid_set, r.segment, r.seed), out_dir, "cpu", lambda line: None)
    return r


def events(out_dir: Path) -> EventAccumulator:
    acc = EventAccumulator(str(out_dir / "tensorboard"), size_guidance={"audio": 0, "images": 0, "scalars": 0})
    acc.Reload()
    return acc


def decoded(event) -> np.ndarray:
    audio, rate = sf.read(io.BytesIO(event.encoded_audio_string), dtype="float32")
    assert rate == event.sample_rate
    return audio


def downmix(path: Path, frames: int | None = None) -> np.ndarray:
    return sf.read(str(path), frames=frames or -1, dtype="float32", always_2d=True)[0].mean(1)


def test_speech_examples_hold_input_estimate_and_reference_of_the_first_items(toy_data, tmp_path):
    run(toy_data, "toy", "valid", tmp_path / "run", "gatewave", {"hidden": 8, "depth": 2}, examples=2)
    acc = events(tmp_path / "run")
    valid = read_manifest(toy_data / "manifests/toy/valid.json")
    names = [f"examples/{i}/{kind}" for i in (0, 1) for kind in ("input", "speech/estimate", "speech/reference")]
    assert sorted(acc.Tags()["audio"]) == sorted(names)
    assert sorted(acc.Tags()["images"]) == sorted(f"{name}/spectrogram" for name in names)
    for i, item in enumerate(valid.items[:2]):
        inputs, references = acc.Audio(f"examples/{i}/input"), acc.Audio(f"examples/{i}/speech/reference")
        estimates = acc.Audio(f"examples/{i}/speech/estimate")
        assert [e.step for e in inputs] == [e.step for e in references] == [2]  # written once
        assert [e.step for e in estimates] == [2, 4]  # at every validation
        for event in inputs + references + estimates:
            assert (event.sample_rate, event.length_frames) == (16000, item["length"])  # toy items are < 5 s
        np.testing.assert_allclose(decoded(inputs[0]), downmix(valid.mixture_path(item)), atol=QUANTUM)
        np.testing.assert_allclose(decoded(references[0]), downmix(valid.target_paths(item)["speech"]), atol=QUANTUM)
        # the estimate at step 4 is the model of step 4 (last.pt) on the item
        model = build_model("gatewave", hidden=8, depth=2).eval()
        model.load_state_dict(torch.load(tmp_path / "run/last.pt", weights_only=True)["model_state"])
        with torch.no_grad():
            expected = model(torch.from_numpy(downmix(valid.mixture_path(item)))[None, None])[0, 0].clamp(-1, 1)
        np.testing.assert_allclose(decoded(estimates[-1]), expected.numpy(), atol=2 * QUANTUM)
        for name in (f"examples/{i}/input", f"examples/{i}/speech/estimate"):
            image = acc.Images(f"{name}/spectrogram")[-1]
            assert (image.height, image.width) == (256, 1 + item["length"] // 128)  # 512-point FFT, hop 128
            pixels = np.asarray(Image.open(io.BytesIO(image.encoded_image_string)))
            assert pixels.shape == (image.height, image.width, 3) and pixels.dtype == np.uint8


@pytest.fixture(scope="module")
def music_data(tmp_path_factory) -> Path:
    """The demo music set (44.1 kHz stereo, four stems) with train and test manifests."""
    data = tmp_path_factory.mktemp("music") / "data"
    synthesize_music(data / "audio/music", n_train=1, n_test=1, seed=0, seconds=1.0)
    for split in ("train", "test"):
        write_manifest(
            stems_manifest(data / "audio/music" / split, data, "music", split, 44100),
            data / "manifests/music" / f"{split}.json",
        )
    return data


MUSIC_ARGS = {"channels": 2, "basis": 8, "basis_kernel": 16, "hidden": 4, "depth": 2}


def test_music_writes_every_source_as_a_stereo_downmix(music_data, tmp_path):
    run(music_data, "music", "test", tmp_path / "run", "unet1d", MUSIC_ARGS, steps=2)
    acc = events(tmp_path / "run")
    test = read_manifest(music_data / "manifests/music/test.json")
    item = test.items[0]
    assert sorted(acc.Tags()["audio"]) == sorted(
        ["examples/0/input"] + [f"examples/0/{s}/{kind}" for s in MUSIC_SOURCES for kind in ("estimate", "reference")]
    )
    assert len(acc.Tags()["images"]) == 1 + 2 * len(MUSIC_SOURCES)
    for source, path in test.target_paths(item).items():
        reference = acc.Audio(f"examples/0/{source}/reference")[0]
        assert (reference.sample_rate, reference.length_frames) == (44100, item["length"])
        np.testing.assert_allclose(decoded(reference), downmix(path), atol=QUANTUM)
        image = acc.Images(f"examples/0/{source}/estimate/spectrogram")[0]
        assert (image.height, image.width) == (256, 1 + item["length"] // 256)  # 1024-point FFT, hop 256


def test_examples_are_cut_to_the_first_seconds(music_data, tmp_path):
    test = read_manifest(music_data / "manifests/music/test.json")
    data = training_data(test, test, 0.25, 0)
    examples = ValidationExamples(data.valid, data.sources, data.sample_rate, count=5, seconds=0.5)
    with SummaryWriter(str(tmp_path / "tensorboard")) as writer:
        for step in (10, 20):
            examples.write(writer, build_model("unet1d", **MUSIC_ARGS), step, torch.device("cpu"))
    acc = events(tmp_path)
    assert len(examples.items) == 1  # the validation set has one item
    assert [e.length_frames for e in acc.Audio("examples/0/vocals/estimate")] == [22050, 22050]
    assert [e.step for e in acc.Audio("examples/0/input")] == [10]
    np.testing.assert_allclose(
        decoded(acc.Audio("examples/0/input")[0]), downmix(test.mixture_path(test.items[0]), 22050), atol=QUANTUM
    )


def test_a_full_scale_sine_is_the_brightest_row_and_far_bins_are_the_floor():
    """At 16 kHz the FFT has 512 points (31.25 Hz bins): 1 kHz is bin 32, drawn at row 255 - 32."""
    sine = torch.sin(2 * torch.pi * 1000 * torch.arange(16000) / 16000)
    image = spectrogram_image(sine, 16000)
    magma = matplotlib.colormaps["magma"]
    assert image.shape == (256, 126, 3)  # 1 + 16000 // 128 frames
    middle = image[:, 60]
    np.testing.assert_array_equal(middle[255 - 32], np.round(np.array(magma(1.0)[:3]) * 255))
    np.testing.assert_array_equal(middle[255 - 100], np.round(np.array(magma(0.0)[:3]) * 255))
    five_seconds = spectrogram_image(torch.zeros(5 * 44100), 44100)
    assert five_seconds.shape == (256, 511, 3)  # 513 bins less Nyquist pooled 2:1; hop ceil(220500 / 511) = 432


def test_examples_leave_the_training_curve_unchanged_and_zero_writes_none(toy_data, tmp_path):
    """The dithered model draws random numbers in eval mode too: examples that took them from
    the training run's generator would change every later step."""
    for name, count in (("off", 0), ("on", 3)):
        run(toy_data, "toy", "valid", tmp_path / name, "dithered", {}, examples=count)
    off, on = events(tmp_path / "off"), events(tmp_path / "on")
    assert off.Tags()["audio"] == off.Tags()["images"] == []
    assert len(on.Tags()["audio"]) == 9 and len(on.Tags()["images"]) == 9
    for key in ("train_loss", "valid_loss", "valid_si_snr"):
        assert [e.value for e in off.Scalars(key)] == [e.value for e in on.Scalars(key)], key
    a, b = (torch.load(tmp_path / name / "last.pt", weights_only=True) for name in ("off", "on"))
    assert all(torch.equal(a["model_state"][k], b["model_state"][k]) for k in a["model_state"])
    assert torch.equal(a["rng_cpu"], b["rng_cpu"])


def in_the_next_second() -> None:
    """TensorBoard reads a folder's event files in name order: whole seconds, then a per-process
    counter compared as text (".10" before ".9"), so a resume within the same second in the same
    process (only a test does that) could be read before the run it resumes."""
    now = int(time.time())
    while int(time.time()) == now:
        time.sleep(0.05)


def test_changing_examples_resumes_and_keeps_the_events_up_to_the_saved_step(toy_data, tmp_path):
    """A resumed run continues (examples do not change training) and drops only the events
    after the step it resumes from: those of the saved step itself stay."""
    run(toy_data, "toy", "valid", tmp_path / "run", "gatewave", {"hidden": 8, "depth": 2}, examples=1)
    r = Recipe.from_config({**BASE, "steps": 6, "examples": 2})
    train_set, valid_set = (read_manifest(toy_data / f"manifests/toy/{split}.json") for split in ("train", "valid"))
    data = training_data(train_set, valid_set, r.segment, r.seed)
    in_the_next_second()
    with log_lines() as logs:
        train("gatewave", {"hidden": 8, "depth": 2}, r, data, tmp_path / "run", "cpu")
    assert any("resuming" in line and "step 4" in line for line in logs)
    acc = events(tmp_path / "run")
    assert [e.step for e in acc.Scalars("valid_loss")] == [2, 4, 6]
    assert [e.step for e in acc.Audio("examples/0/speech/estimate")] == [2, 4, 6]
    assert [e.step for e in acc.Audio("examples/1/speech/estimate")] == [6]
    assert [e.step for e in acc.Audio("examples/0/input")] == [2, 6]  # once per training process


@pytest.mark.parametrize("value", [-1, 1.5, True, "3"])
def test_bad_examples_values_are_named(value):
    with pytest.raises(SepflowError, match=r"^experiments\.x\.train\.examples\b"):
        Recipe.from_config({"examples": value}, where="experiments.x.train")
