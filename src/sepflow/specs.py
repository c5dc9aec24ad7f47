"""Typed specs: what the config says, validated once and passed to jobs as canonical JSON.

Every spec is a frozen pydantic model that refuses unknown keys. `Spec.parse(mapping, where)`
validates a config section and turns pydantic's errors into one SepflowError that names the
full key path (`datasets.musan.local_pth: unknown key (did you mean local_path?)`); a job
rebuilds its spec from the JSON in its rule params with `from_json`, the one place it is read.
"""

from __future__ import annotations

import json
import typing
from collections.abc import Mapping
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Strict, ValidationError, model_serializer, model_validator

from sepflow.errors import SepflowError
from sepflow.registry import did_you_mean

Count = Annotated[int, Strict()]
"""A whole number, never a bool or a string that looks like one."""
Number = Annotated[float, Strict()]
"""A real number given as an int or a float, never a bool or a string."""
Flag = Annotated[bool, Strict()]

LONGEST_VALUE = 80  # a quoted value longer than this is cut, so the key stays in view


def canonical_json(obj: Any) -> str:
    """Sorted, compact JSON: rule params that do not change when YAML keys are reordered."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def key_path(where: str, loc: tuple) -> str:
    """'where.a.b[2].c' from pydantic's location tuple."""
    path = where
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= LONGEST_VALUE else text[: LONGEST_VALUE - 3] + "..."


def _fields(model: type) -> dict:
    """The fields of a pydantic model or a pydantic dataclass."""
    return getattr(model, "model_fields", None) or getattr(model, "__pydantic_fields__", {})


def _model_at(model: type[BaseModel], loc: tuple) -> type[BaseModel] | None:
    """The spec class that validates the mapping at `loc` (None when it is not a spec)."""
    for part in loc:
        field = _fields(model).get(part) if isinstance(part, str) else None
        candidates = [getattr(field, "annotation", None), *typing.get_args(getattr(field, "annotation", None))]
        model = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
        if model is None:
            return None
    return model


def config_error(model: type[BaseModel], error: ValidationError, where: str) -> SepflowError:
    """pydantic's first error as one line naming the key and what is wrong."""
    first = error.errors()[0]
    loc, kind = tuple(first["loc"]), first["type"]
    path = key_path(where, loc)
    parent = _model_at(model, loc[:-1])
    if kind in ("extra_forbidden", "unexpected_keyword_argument"):
        known = sorted(_fields(parent)) if parent else []
        hint = did_you_mean(loc[-1], known) if known else ""
        return SepflowError(f"{path}: unknown key{hint}" + (f"; known keys: {known}" if known and not hint else ""))
    if kind == "missing":
        field = _fields(parent).get(loc[-1]) if parent else None
        how = field.description if field is not None and field.description else "give it in the config"
        return SepflowError(f"{path}: missing; {how}")
    message = first["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if kind == "value_error":
        return SepflowError(f"{path}: {message}")
    return SepflowError(f"{path}: {message[0].lower()}{message[1:]}, got {_shown(first.get('input'))}")


class Spec(BaseModel):
    """A frozen, validated piece of the plan that a job can receive as JSON."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @classmethod
    def parse(cls, section: Mapping[str, Any] | Any, where: str, **context: Any) -> Self:
        """Validate a config section; mistakes raise one SepflowError naming `where.key`."""
        if not isinstance(section, Mapping):
            raise SepflowError(f"{where}: expected a mapping of keys, got {_shown(section)}")
        try:
            return cls.model_validate(dict(section), context=context or None)
        except ValidationError as exc:
            raise config_error(cls, exc, where) from None

    def to_json(self) -> str:
        return canonical_json(self.model_dump(mode="json"))

    @classmethod
    def from_json(cls, text: str) -> Self:
        return cls.model_validate_json(text)


class SplitRef(Spec):
    """One split of one dataset, written `dataset/split` in the config and in JSON."""

    dataset: str
    split: str

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, value: Any) -> Any:
        if isinstance(value, str):
            dataset, sep, split = value.partition("/")
            if not (sep and dataset and split) or "/" in split:
                raise ValueError(f"{value!r} must read DATASET/SPLIT, e.g. demo/test")
            return {"dataset": dataset, "split": split}
        return value

    @model_serializer
    def _as_text(self) -> str:
        return self.name

    @property
    def name(self) -> str:
        return f"{self.dataset}/{self.split}"

    def __str__(self) -> str:
        return self.name
