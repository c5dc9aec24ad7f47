"""One registry helper for everything a config names: models, losses, training steps,
streamers, baselines, corpus recipes, systems.

Entries are "module:attribute" strings imported on first use, so naming a model with an
optional dependency (mamba-ssm) costs nothing until it is asked for. Each registry knows the
leading parameters its constructors take from the pipeline (a baseline's sample rate and
sources, a step's model and loss), so the arguments a config gives are bound against the rest
of the signature when the config is read, and every registry says a mistake the same way:
`where: unknown model 'demcus'; choose one of: ... (did you mean demucs?)`.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any

from sepflow.errors import SepflowError


def did_you_mean(word: str, choices) -> str:
    """' (did you mean X?)' for the closest choice, or '' when none is close."""
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


class Registry(MutableMapping[str, str]):
    """name -> "module:attribute", used like a dict of those strings; a project of one's own
    registers more with `REGISTRY["name"] = "package.module:Class"`."""

    def __init__(self, what: str, entries: Mapping[str, str], leading: tuple[str, ...] = ()):
        self.what, self._entries, self.leading = what, dict(entries), tuple(leading)

    def __getitem__(self, name: str) -> str:
        return self._entries[name]

    def __setitem__(self, name: str, entry: str) -> None:
        if entry.count(":") != 1:
            raise ValueError(f"register a {self.what} as 'package.module:Attribute', got {entry!r}")
        self._entries[name] = entry

    def __delitem__(self, name: str) -> None:
        del self._entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def unknown(self, name: str, where: str | None = None) -> SepflowError:
        prefix = f"{where}: " if where else ""
        return SepflowError(
            f"{prefix}unknown {self.what} {name!r}; choose one of: {', '.join(sorted(self))}{did_you_mean(name, self)}"
        )

    def load(self, name: str, where: str | None = None) -> Any:
        """The attribute registered under `name`, imported now."""
        if name not in self._entries:
            raise self.unknown(name, where)
        module, attribute = self._entries[name].split(":")
        return getattr(importlib.import_module(module), attribute)

    def name_of(self, obj: Any) -> str | None:
        """The name an object (or class) is registered under, without importing other entries."""
        cls = obj if isinstance(obj, type) else type(obj)
        target = f"{cls.__module__}:{cls.__qualname__}"
        return next((name for name, entry in self._entries.items() if entry == target), None)

    def accepted(self, name: str) -> list[str]:
        """The keyword arguments a config may give `name` (those after the leading ones)."""
        parameters = list(inspect.signature(self.load(name)).parameters.values())[len(self.leading) :]
        return [p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]

    def bind(self, name: str, args: Mapping[str, Any], where: str) -> None:
        """Arguments from a config must fit the constructor: checked when the config is read."""
        try:
            inspect.signature(self.load(name, where)).bind(*self.leading, **args)
        except TypeError as exc:
            wrong = next((key for key in args if key not in self.accepted(name)), None)
            hint = did_you_mean(wrong, self.accepted(name)) if wrong else ""
            raise SepflowError(
                f"{where}: {exc} for {self.what} {name!r}; it takes {self.accepted(name)}{hint}"
            ) from None

    def build(self, name: str, *leading: Any, where: str | None = None, **args: Any) -> Any:
        """Construct `name` with the pipeline's leading arguments and the config's others."""
        constructor = self.load(name, where)
        try:
            return constructor(*leading, **args)
        except TypeError as exc:
            prefix = f"{where}: " if where else ""
            raise SepflowError(f"{prefix}bad arguments for {self.what} {name!r}: {exc}") from None
