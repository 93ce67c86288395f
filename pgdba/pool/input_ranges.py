"""Range checks for the numbers the pool functions take: an InputError names the value, never inf/nan."""

from __future__ import annotations

import math

from pgdba.errors import InputError


def check_whole(value: int | None, what: str, low: int, high: int) -> None:
    """InputError unless value is None or an integer in [low, high]."""
    if value is not None and not low <= value <= high:
        raise InputError(f"{what} must be between {low} and {high}, got {value}")


def check_finite(value: float | None, what: str, low: float, high: float, *, low_open: bool = False) -> None:
    """InputError unless value is None or a finite number in [low, high] (low excluded with low_open)."""
    if value is None:
        return
    if not math.isfinite(value):
        raise InputError(f"{what} must be a finite number, got {value}")
    too_low = value <= low if low_open else value < low
    if too_low or value > high:
        bounds = f"above {low:g} and at most {high:g}" if low_open else f"between {low:g} and {high:g}"
        raise InputError(f"{what} must be {bounds}, got {value:g}")
