"""What the downloaded-corpus recipes share: config keys checked, a user's local copy.
Preparing the files (resampling in parallel) is sepflow.data.resampling, shared with the
bring-your-own-folder recipes."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from sepflow.errors import SepflowError


def require(cfg: dict, where: str, key: str, types: type | tuple[type, ...], choices: Iterable | None = None):
    """cfg[key], checked for type and (optionally) membership; errors name f"{where}.{key}"."""
    if key not in cfg:
        raise SepflowError(f"{where}.{key} is missing")
    return optional(cfg, where, key, types, None, choices)


def optional(
    cfg: dict, where: str, key: str, types: type | tuple[type, ...], default=None, choices: Iterable | None = None
):
    """cfg.get(key, default), checked like require() when present."""
    if key not in cfg:
        return default
    value = cfg[key]
    types = types if isinstance(types, tuple) else (types,)
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
        names = " or ".join(t.__name__ for t in types)
        raise SepflowError(f"{where}.{key} must be of type {names}, got {value!r}")
    if choices is not None:
        choices = list(choices)
        values = value if isinstance(value, list) else [value]
        odd = [v for v in values if v not in choices]
        if odd:
            raise SepflowError(f"{where}.{key}: {odd[0]!r} is not one of {choices}")
    return value


def local_root(cfg: dict, where: str) -> Path | None:
    """The user's own copy (`local_path`), which must exist; it is read in place, never written."""
    if "local_path" not in cfg:
        return None
    path = Path(os.path.expanduser(str(cfg["local_path"])))
    if not path.is_dir():
        raise SepflowError(f"{where}.local_path: folder {path} not found; fix the path or remove the key to download.")
    return path
