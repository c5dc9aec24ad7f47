"""Released weights: fetched by URL + sha256 over local HTTP, converted from denoiser's formats."""

from __future__ import annotations

import hashlib
import sys
import types

import pytest
import torch
from conftest import quiet

from sepflow.errors import SepflowError
from sepflow.models.demucs import Demucs
from sepflow.models.pretrained import RELEASED, Released, released_checkpoint

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
