"""The demo corpus settings, checked up front so a bad config fails with one clear line.

Every check names the config key (as it appears under `demo:` in config.yaml) and says
what values are accepted; nothing is synthesized before all keys pass.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sepflow.data.recipes.base import SUPPORTED_SAMPLE_RATES
from sepflow.errors import SepflowError

NOISE_TYPES = ("white", "pink", "brown", "babble", "hum", "machinery", "impulsive", "music")
"""The noise generators of noise.py, named here so that checking a config imports no synthesis."""
POOL_KINDS = ("clean", "noise", "impulse_responses")
DEFAULT_POOL_SIZES = {"clean": 40, "noise": 16, "impulse_responses": 8}
RESERVED_NAMES = ("dns", "musdb")  # top-level folders that are not paired splits
MAX_SPLITS = 8  # each split gets its own share of the eSpeak voice variants


@dataclass(frozen=True)
class DemoSettings:
    """Validated settings; see corpus.synthesize_demo for what each one means."""

    sizes: dict[str, int]
    sample_rate: int
    seed: int
    snr_range: tuple[float, float]
    reverb_fraction: float
    utterance_seconds: tuple[float, float]
    pool_sizes: dict[str, int]
    noise_types: tuple[str, ...]
    rt60_range: tuple[float, float]
    rooms_per_split: int


def _count(key: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise SepflowError(f"demo config: {key} must be a whole number >= 0, got {value!r}.")
    return value


def _interval(key: str, value, low: float, high: float, allow_equal: bool = True) -> tuple[float, float]:
    """A (min, max) pair of finite numbers inside [low, high] with min <= max."""
    try:
        a, b = (float(v) for v in value)
    except (TypeError, ValueError):
        raise SepflowError(f"demo config: {key} must be a pair [min, max] of numbers, got {value!r}.") from None
    if not (math.isfinite(a) and math.isfinite(b)) or a < low or b > high:
        raise SepflowError(f"demo config: {key} must lie within [{low}, {high}], got {value!r}.")
    if a > b or (a == b and not allow_equal):
        raise SepflowError(f"demo config: {key} is empty: min {a} must be below max {b}.")
    return a, b


def validate_settings(
    sizes: Mapping[str, int],
    sample_rate: int,
    seed: int,
    snr_range: Sequence[float],
    reverb_fraction: float,
    utterance_seconds: Sequence[float],
    pool_sizes: Mapping[str, int] | None,
    noise_types: Sequence[str],
    rt60_range: Sequence[float],
    rooms_per_split: int,
) -> DemoSettings:
    """Check every value and return them frozen; raise SepflowError naming the first bad key."""
    if not isinstance(sizes, Mapping) or not sizes:
        raise SepflowError(
            f"demo config: sizes must map split names to item counts, e.g. {{train: 400}}, got {sizes!r}."
        )
    if len(sizes) > MAX_SPLITS:
        raise SepflowError(f"demo config: sizes has {len(sizes)} splits; at most {MAX_SPLITS} are supported.")
    for name, size in sizes.items():
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_-]+", name) or name in RESERVED_NAMES:
            raise SepflowError(
                f"demo config: sizes has split name {name!r}; use letters, digits, '_' or '-', not {RESERVED_NAMES}."
            )
        _count(f"sizes.{name}", size)
    if isinstance(sample_rate, bool) or sample_rate not in SUPPORTED_SAMPLE_RATES:
        raise SepflowError(f"demo config: sample_rate must be one of {SUPPORTED_SAMPLE_RATES} Hz, got {sample_rate!r}.")
    _count("seed", seed)
    if (
        isinstance(reverb_fraction, bool)
        or not isinstance(reverb_fraction, (int, float))
        or not 0.0 <= reverb_fraction <= 1.0
    ):
        raise SepflowError(f"demo config: reverb_fraction must be a number in [0, 1], got {reverb_fraction!r}.")
    pools = dict(DEFAULT_POOL_SIZES)
    if pool_sizes is not None:
        if not isinstance(pool_sizes, Mapping):
            raise SepflowError(f"demo config: pool_sizes must map {POOL_KINDS} to counts, got {pool_sizes!r}.")
        for kind, size in pool_sizes.items():
            if kind not in POOL_KINDS:
                raise SepflowError(f"demo config: pool_sizes has unknown pool {kind!r}; known pools are {POOL_KINDS}.")
            pools[kind] = _count(f"pool_sizes.{kind}", size)
    if isinstance(noise_types, str) or not noise_types:
        raise SepflowError(
            f"demo config: noise_types must be a non-empty list drawn from {NOISE_TYPES}, got {noise_types!r}."
        )
    for kind in noise_types:
        if kind not in NOISE_TYPES:
            raise SepflowError(
                f"demo config: noise_types has unknown noise type {kind!r}; known types are {NOISE_TYPES}."
            )
    if _count("rooms_per_split", rooms_per_split) == 0 and reverb_fraction > 0:
        raise SepflowError("demo config: rooms_per_split must be >= 1 when reverb_fraction > 0.")
    return DemoSettings(
        sizes={name: int(size) for name, size in sizes.items()},
        sample_rate=int(sample_rate),
        seed=int(seed),
        snr_range=_interval("snr_range", snr_range, -30.0, 60.0),
        reverb_fraction=float(reverb_fraction),
        utterance_seconds=_interval("utterance_seconds", utterance_seconds, 0.5, 30.0),
        pool_sizes=pools,
        noise_types=tuple(dict.fromkeys(noise_types)),
        rt60_range=_interval("rt60_range", rt60_range, 0.1, 2.0),
        rooms_per_split=int(rooms_per_split),
    )
