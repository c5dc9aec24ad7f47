"""Released weights as experiments: download a published checkpoint by URL and checksum and
convert it into sepflow's checkpoint format, so it is enhanced and scored like a trained model.

denoiser (Defossez et al. 2020) releases its DNS models as plain state dicts whose file
names carry the first 16 hex digits of their sha256 (torch.hub's convention); its training
runs save packages {'class', 'args', 'kwargs', 'state'} (or {'model': package, 'best_state'}).
Our `demucs` has the same parameter names and shapes, so the state dict loads unchanged.
A package's pickled class reference is read as a name only: denoiser need not be installed,
and nothing but tensors, containers and that name is unpickled.

SEMamba (Chao et al. 2024) releases the training checkpoint of its generator, HiFi-GAN
style: {'generator': state_dict} (its inference.py loads `ckpts/SEMamba_advanced.pth` with
`load_state_dict(state_dict['generator'])`); a checkpoint may carry more, such as the
'discriminator', the optimisers' states ('optim_g', 'optim_d'), 'steps' and 'epoch'. The
generator's state dict loads strictly into our `semamba` at its default arguments.
"""

from __future__ import annotations

import inspect
import pickle
import types
from dataclasses import dataclass, field
from pathlib import Path

import torch

from sepflow.data.download import Remote, fetch
from sepflow.errors import SepflowError
from sepflow.models import model_class
from sepflow.models.checkpoint import atomic_save, model_checkpoint

DENOISER_ROOT = "https://dl.fbaipublicfiles.com/adiyoss/denoiser/"


@dataclass(frozen=True)
class Released:
    url: str
    sha256: str  # full, or a prefix of at least 8 hex digits
    model: str = "demucs"
    args: dict = field(default_factory=dict)
    sample_rate: int = 16000
    task: str = "speech"
    sources: tuple[str, ...] = ("speech",)


# denoiser/pretrained.py: causal Demucs, depth 5, resample 4; dns48/dns64 trained on DNS,
# master64 on DNS + VoiceBank+DEMAND.
RELEASED = {
    "dns48": Released(DENOISER_ROOT + "dns48-11decc9d8e3f0998.th", "11decc9d8e3f0998", args={"hidden": 48}),
    "dns64": Released(DENOISER_ROOT + "dns64-a7761ff99a7d5bb6.th", "a7761ff99a7d5bb6", args={"hidden": 64}),
    "master64": Released(DENOISER_ROOT + "master64-8a5dfb4bb92753dd.th", "8a5dfb4bb92753dd", args={"hidden": 64}),
}


class _ClassName:
    """Stands in for a pickled class reference of a foreign package (denoiser.demucs.Demucs)."""

    def __init__(self, qualname: str):
        self.qualname = qualname


class _NamesOnly(pickle.Unpickler):
    _allowed = {
        ("collections", "OrderedDict"),
        ("torch._utils", "_rebuild_tensor_v2"),
        ("torch._utils", "_rebuild_parameter"),
        ("torch", "FloatStorage"),
        ("torch", "Size"),
    }

    def find_class(self, module, name):
        if module.split(".")[0] == "denoiser":
            return _ClassName(f"{module}.{name}")
        if (module, name) in self._allowed:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}")


_names_only = types.SimpleNamespace(Unpickler=_NamesOnly, load=pickle.load, __name__="sepflow_names_only")


def _load(path: Path) -> dict:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        pass
    try:
        return torch.load(path, map_location="cpu", weights_only=False, pickle_module=_names_only)
    except Exception as exc:
        raise SepflowError(
            f"cannot read {path} as a state dict, a denoiser package or a SEMamba checkpoint ({exc})."
        ) from None


def state_and_args(obj: dict) -> tuple[dict, dict]:
    """(state dict, constructor keyword arguments) from a state dict, a denoiser package or a
    SEMamba checkpoint (the generator's state dict; the rest, discriminator included, is unused)."""
    if isinstance(obj.get("generator"), dict):
        return dict(obj["generator"]), {}
    if "discriminator" in obj:
        raise SepflowError(
            "a checkpoint with a 'discriminator' but no 'generator' (SEMamba's do_ files): "
            "give the generator's file (g_..., or the released SEMamba_advanced.pth)."
        )
    if "model" in obj and isinstance(obj["model"], dict):  # a training checkpoint of denoiser
        package = dict(obj["model"])
        if "best_state" in obj:
            package["state"] = obj["best_state"]
        obj = package
    if "state" in obj and "class" in obj:
        if obj.get("args"):
            raise SepflowError(
                "a denoiser package with positional arguments cannot be converted; re-export it with keyword arguments."
            )
        return dict(obj["state"]), dict(obj.get("kwargs", {}))
    if all(isinstance(v, torch.Tensor) for v in obj.values()):
        return dict(obj), {}
    raise SepflowError(f"not a state dict, a denoiser package or a SEMamba checkpoint (keys {sorted(obj)[:5]}).")


def convert(obj: dict, released: Released) -> dict:
    """sepflow's checkpoint of a released model; the state dict must load strictly."""
    state, kwargs = state_and_args(obj)
    accepted = set(inspect.signature(model_class(released.model)).parameters)
    args = {**released.args, **{k: v for k, v in kwargs.items() if k in accepted}}
    model = model_class(released.model)(**args)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise SepflowError(
            f"the released weights do not fit {released.model}({args}): {str(exc)[:300]}; "
            "check the experiment's model arguments."
        ) from None
    trained_on = types.SimpleNamespace(
        sample_rate=args.get("sample_rate", released.sample_rate),
        task=released.task,
        sources=released.sources,
        channels=args.get("chin", 1),
    )
    return model_checkpoint(released.model, args, trained_on, model)


def released_checkpoint(
    released: Released | str, out_path: Path, cache_dir: Path, log=print, mirror: str | None = None
) -> Path:
    """Download (verified by sha256) and convert released weights into `out_path` (model.pt)."""
    if isinstance(released, str):
        if released not in RELEASED:
            raise SepflowError(
                f"unknown released model {released!r}; choose one of {sorted(RELEASED)} or give url and sha256."
            )
        released = RELEASED[released]
    path = fetch(Remote(released.url, sha256=released.sha256, kind="file"), Path(cache_dir), log, mirror)
    checkpoint = convert(_load(path), released)
    return atomic_save(checkpoint, out_path)
