"""Size and duration formatting: the one place that turns numbers into human units."""

from __future__ import annotations

_BYTE_UNITS = ("B", "kB", "MB", "GB", "TB", "PB")


def format_bytes(size: float) -> str:
    """1536 → '1.5 kB' (powers of 1024, PostgreSQL's pg_size_pretty units)."""
    value = float(size)
    for unit in _BYTE_UNITS:
        if abs(value) < 1024 or unit == _BYTE_UNITS[-1]:
            return f"{value:,.0f} {unit}" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1024
    return f"{value:,.1f} PB"


def format_ms(ms: float) -> str:
    """Milliseconds as ms, s or min, whichever reads best."""
    if ms < 1000:
        return f"{ms:,.1f} ms"
    if ms < 120_000:
        return f"{ms / 1000:,.2f} s"
    return f"{ms / 60_000:,.1f} min"
