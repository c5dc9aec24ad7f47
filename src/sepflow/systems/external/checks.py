"""What every external system checks when it is built, before its library is touched (a bad
value given to a Rust or C runtime aborts the process instead of raising): it enhances
speech, at a positive sample rate, and its arguments are its library's knobs, numbers in range.
"""

from __future__ import annotations

import math
from numbers import Real

from sepflow.errors import SepflowError


def check_speech(system: str, sample_rate: int, sources: tuple[str, ...]) -> None:
    if tuple(sources) != ("speech",):
        raise SepflowError(
            f"{system} enhances speech (sources [speech]), not {list(sources)}; use it on speech test sets only."
        )
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or sample_rate <= 0:
        raise SepflowError(f"{system}: sample_rate must be a positive whole number of Hz, got {sample_rate!r}.")


def knobs(system: str, args: dict, ranges: dict[str, tuple[float, float, float]]) -> dict[str, float]:
    """`args` over the defaults, each a finite number within its range;
    `ranges` is {name: (default, lowest, highest)}."""
    unknown = sorted(set(args) - set(ranges))
    if unknown:
        known = ", ".join(ranges) or "none"
        raise SepflowError(f"{system} has no argument {unknown[0]!r}; its arguments: {known}.")
    values = {name: default for name, (default, _, _) in ranges.items()}
    for name, value in args.items():
        _, low, high = ranges[name]
        if (
            isinstance(value, bool)
            or not isinstance(value, Real)
            or not math.isfinite(value)
            or not low <= value <= high
        ):
            raise SepflowError(f"{system} argument {name!r} must be a number from {low:g} to {high:g}, got {value!r}.")
        values[name] = float(value)
    return values
