"""Dotted key paths into an experiment (`train.lr`, `args.hidden`, `train.loss.terms[0].weight`):
where a search sets each sampled value, so a trial is the experiment with those values written in."""

from __future__ import annotations

import re
from collections.abc import MutableMapping
from typing import Any

from sepflow.errors import SepflowError

_PART = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)((?:\[\d+\])*)")


def parse_path(path: str) -> list[str | int]:
    """'train.loss.terms[0].weight' -> ['train', 'loss', 'terms', 0, 'weight']; ValueError when malformed."""
    parts: list[str | int] = []
    for piece in path.split("."):
        match = _PART.fullmatch(piece)
        if match is None:
            raise ValueError(f"{path!r} is not a dotted key path like train.lr or train.loss.terms[0].weight")
        parts.append(match.group(1))
        parts += [int(index) for index in re.findall(r"\[(\d+)\]", match.group(2))]
    return parts


def set_at(tree: MutableMapping[str, Any], path: str, value: Any, where: str) -> None:
    """Set `value` at `path` in nested mappings and lists, making missing mappings on the way (a
    key the config left to its default); an index past a list's end or a step into a value that is
    not a mapping raises one SepflowError naming `where.path`."""
    parts = parse_path(path)
    node: Any = tree
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        here = _spelled(parts[:depth]) or "the experiment"
        if isinstance(part, int):
            if not isinstance(node, list) or part >= len(node):
                size = f"has {len(node)} items" if isinstance(node, list) else "is not a list"
                raise SepflowError(f"{where}.{path}: {here} {size}; index {part} is not there")
        elif not isinstance(node, MutableMapping):
            raise SepflowError(f"{where}.{path}: {here} is {node!r}, not a mapping with a key {part!r}")
        if last:
            node[part] = value
        else:
            if isinstance(part, str) and part not in node:
                node[part] = {}
            node = node[part]


def _spelled(parts: list[str | int]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text
