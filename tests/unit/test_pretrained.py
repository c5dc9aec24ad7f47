"""Released weights: fetched by URL + sha256 over local HTTP, converted from denoiser's and SEMamba's formats."""

from __future__ import annotations

import hashlib
import sys
import types

import pytest
import torch
from conftest import quiet

from sepflow.errors import SepflowError
from sepflow.models.demucs import Demucs
from sepflow.models.metric_discriminator import MetricDiscriminator
from sepflow.models.pretrained import RELEASED, Released, released_checkpoint
from sepflow.models.semamba import SEMamba

ARGS = {"hidden": 8, "depth": 3}


def denoiser_package(state: dict) -> dict:
    """What denoiser's serialize_model saves: the class itself, args, kwargs and the state."""
    module = types.ModuleType("denoiser.demucs")
    cls = type("Demucs", (), {"__module__": "denoiser.demucs"})
    module.Demucs = cls
    sys.modules["denoiser"], sys.modules["denoiser.demucs"] = types.ModuleType("denoiser"), module
    return {"class": cls, "args": (), "kwargs": {**ARGS, "sample_rate": 16000, "causal": True}, "state": state}


def test_released_urls_are_denoisers():
    assert RELEASED["dns48"].url.endswith("/denoiser/dns48-11decc9d8e3f0998.th")
    assert RELEASED["dns64"].args == {"hidden": 64} and RELEASED["master64"].sha256 == "8a5dfb4bb92753dd"


@pytest.mark.parametrize("form", ["state_dict", "package", "training"])
def test_state_dicts_and_denoiser_packages_convert(server, tmp_path, form):
    torch.manual_seed(0)
    reference = Demucs(**ARGS).eval()
    state = reference.state_dict()
    if form == "state_dict":
        obj = state
    else:
        obj = denoiser_package(state)
        if form == "training":
            obj = {"model": obj, "best_state": state, "optimizer": {}}
    torch.save(obj, server.root / "w.th")
    for name in ("denoiser.demucs", "denoiser"):
        sys.modules.pop(name, None)  # denoiser is not needed to read its packages
    sha = hashlib.sha256((server.root / "w.th").read_bytes()).hexdigest()
    out = released_checkpoint(
        Released(server.url + "w.th", sha[:16], args=ARGS), tmp_path / "model.pt", tmp_path / "cache", quiet
    )
    ckpt = torch.load(out, weights_only=True)
    assert ckpt["model"] == "demucs" and ckpt["sources"] == ["speech"] and ckpt["task"] == "speech"
    assert ckpt["model_args"]["hidden"] == 8 and ckpt["sample_rate"] == 16000
    model = Demucs(**ckpt["model_args"]).eval()
    model.load_state_dict(ckpt["state_dict"])
    x = torch.randn(1, 1, 4000)
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x))


def test_wrong_sha256_and_wrong_arguments_are_clear_errors(server, tmp_path):
    torch.save(Demucs(**ARGS).state_dict(), server.root / "w.th")
    with pytest.raises(SepflowError, match="sha256 expected 0123456789abcdef"):
        released_checkpoint(
            Released(server.url + "w.th", "0123456789abcdef", args=ARGS), tmp_path / "m.pt", tmp_path / "cache", quiet
        )
    sha = hashlib.sha256((server.root / "w.th").read_bytes()).hexdigest()
    with pytest.raises(SepflowError, match="do not fit demucs"):
        released_checkpoint(
            Released(server.url + "w.th", sha, args={"hidden": 16, "depth": 3}),
            tmp_path / "m.pt",
            tmp_path / "cache2",
            quiet,
        )


def _official_semamba_checkpoint(path) -> SEMamba:
    """A file in the layout of SEMamba's released checkpoints (its train.py, HiFi-GAN style): the
    generator at the official size under 'generator', beside the discriminator, both optimisers'
    states (after a step, so they hold tensors), 'steps' and 'epoch'. Returns the generator."""
    torch.manual_seed(0)
    generator, discriminator = SEMamba().eval(), MetricDiscriminator()
    optimisers = {}
    for key, model in (("optim_g", generator), ("optim_d", discriminator)):
        optimiser = torch.optim.AdamW(model.parameters(), lr=5e-4, betas=(0.8, 0.99))
        for parameter in model.parameters():
            parameter.grad = torch.full_like(parameter, 1e-3)
        optimiser.step()
        optimisers[key] = optimiser.state_dict()
    state = {k: v.clone() for k, v in generator.state_dict().items()}
    torch.save(
        {"generator": state, "discriminator": discriminator.state_dict(), **optimisers, "steps": 1000, "epoch": 3}, path
    )
    generator.load_state_dict(state)
    return generator


def test_a_released_semamba_checkpoint_converts_with_its_generator_loaded_strictly(server, tmp_path):
    generator = _official_semamba_checkpoint(server.root / "SEMamba_advanced.pth")
    sha = hashlib.sha256((server.root / "SEMamba_advanced.pth").read_bytes()).hexdigest()
    released = Released(server.url + "SEMamba_advanced.pth", sha, model="semamba")
    out = released_checkpoint(released, tmp_path / "model.pt", tmp_path / "cache", quiet)
    ckpt = torch.load(out, weights_only=True)
    assert (ckpt["model"], ckpt["model_args"], ckpt["sample_rate"], ckpt["sources"]) == (
        "semamba",
        {},
        16000,
        ["speech"],
    )
    model = SEMamba(**ckpt["model_args"]).eval()
    model.load_state_dict(ckpt["state_dict"], strict=True)
    assert sum(p.numel() for p in model.parameters()) == 2_258_769  # the official size
    x = 0.1 * torch.randn(1, 1, 4000)
    with torch.no_grad():
        torch.testing.assert_close(model(x), generator(x), rtol=0, atol=0)


def test_a_semamba_discriminator_file_is_refused_naming_the_generator_file(server, tmp_path):
    torch.save({"discriminator": MetricDiscriminator().state_dict(), "steps": 1}, server.root / "do_00001000")
    sha = hashlib.sha256((server.root / "do_00001000").read_bytes()).hexdigest()
    with pytest.raises(SepflowError, match=r"no 'generator' \(SEMamba's do_ files\): give the generator's file"):
        released_checkpoint(
            Released(server.url + "do_00001000", sha, model="semamba"), tmp_path / "m.pt", tmp_path / "cache", quiet
        )
