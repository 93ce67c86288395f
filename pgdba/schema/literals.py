"""Quoted literals of a known type in one canonical spelling, read in Python as PostgreSQL's input functions
read them, so that a source's `'2020-01-01T00:00:00Z'` and the catalog's `'2020-01-01 00:00:00+00'` compare
by value: date, timestamp [with time zone], time [with time zone], interval, uuid, json and jsonb.

Only spellings read exactly are canonicalised (ISO 8601 dates and times, PostgreSQL's own interval format
with whole units, hex UUIDs, JSON): anything else (`'today'`, `'Jan 1 2020'`, `'P1D'`, …) is left as it is
written and compared by its text, so an unread spelling can show as drift but never hide one. pgdba reads the
catalog with TimeZone=UTC, so a timestamptz is compared in UTC; a timestamptz or timetz literal without an
offset is read in UTC too (the time zone of the session that created it is not recorded).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation

_DATE = r"(?P<year>\d{4})-(?P<month>\d{1,2})-(?P<day>\d{1,2})"
_TIME = r"(?P<hour>\d{1,2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?P<fraction>\.\d{1,6})?)?"
_ZONE = r"\s*(?P<zone>[zZ]|UTC|utc|[+-]\d{1,2}(?::?\d{2})?)"
_DATE_TIME = re.compile(rf"^{_DATE}(?:(?:[tT]|\s+){_TIME})?(?:{_ZONE})?$")
_TIME_ONLY = re.compile(rf"^{_TIME}(?:{_ZONE})?$")
_UUID = re.compile(r"^(\{)?([0-9a-fA-F]{4}(?:-?[0-9a-fA-F]{4}){7})(\})?$")
_SPECIAL_TIMESTAMPS = {"infinity": "infinity", "+infinity": "infinity", "-infinity": "-infinity"}
_EPOCH = datetime(1970, 1, 1)


def canonical_literal(text: str, type_name: str) -> str | None:
    """The literal `text` of the type `type_name` (format_type's name without modifiers) in canonical form;
    None when the type is not one of these or the spelling is not read exactly."""
    reader = _READERS.get(type_name)
    return reader(text.strip()) if reader is not None else None


def _date(text: str) -> str | None:
    if text.lower() in _SPECIAL_TIMESTAMPS:
        return _SPECIAL_TIMESTAMPS[text.lower()]
    if text.lower() == "epoch":
        return _EPOCH.date().isoformat()
    match = _DATE_TIME.match(text)
    parsed = _datetime(match) if match is not None else None
    return parsed.date().isoformat() if parsed is not None else None


def _timestamp(text: str) -> str | None:
    """timestamp without time zone: PostgreSQL ignores an offset in its input."""
    if text.lower() in _SPECIAL_TIMESTAMPS:
        return _SPECIAL_TIMESTAMPS[text.lower()]
    match = _DATE_TIME.match(text) if text.lower() != "epoch" else None
    parsed = _EPOCH if text.lower() == "epoch" else _datetime(match) if match is not None else None
    return _print_datetime(parsed) if parsed is not None else None


def _timestamptz(text: str) -> str | None:
    if text.lower() in _SPECIAL_TIMESTAMPS:
        return _SPECIAL_TIMESTAMPS[text.lower()]
    if text.lower() == "epoch":
        return _print_datetime(_EPOCH) + "+00"
    match = _DATE_TIME.match(text)
    parsed = _datetime(match) if match is not None else None
    offset = _offset(match["zone"]) if match is not None else None
    if parsed is None or offset is None:
        return None
    try:
        in_utc = parsed - offset
    except OverflowError:
        return None
    return _print_datetime(in_utc) + "+00"


def _datetime(match: re.Match[str]) -> datetime | None:
    try:
        day = date(int(match["year"]), int(match["month"]), int(match["day"]))
    except ValueError:
        return None
    clock = _clock(match) if match["hour"] is not None else timedelta()
    return datetime.combine(day, datetime.min.time()) + clock if clock is not None else None


def _clock(match: re.Match[str]) -> timedelta | None:
    """The time of day as a duration: 24:00:00 is allowed, as PostgreSQL allows it."""
    hour, minute, second = int(match["hour"]), int(match["minute"]), int(match["second"] or 0)
    microseconds = int((match["fraction"] or ".").ljust(7, "0")[1:])
    if minute > 59 or second > 59 or hour > 24 or (hour == 24 and (minute or second or microseconds)):
        return None
    return timedelta(hours=hour, minutes=minute, seconds=second, microseconds=microseconds)


def _offset(zone: str | None) -> timedelta | None:
    """A UTC offset as written (`Z`, `UTC`, `+02`, `+0530`, `-03:00`); none: UTC."""
    if zone is None or zone.upper() in ("Z", "UTC"):
        return timedelta()
    sign = -1 if zone[0] == "-" else 1
    digits = zone[1:].replace(":", "")
    hours, minutes = (digits[:-2], digits[-2:]) if len(digits) > 2 else (digits, "0")
    if int(hours) > 15 or int(minutes) > 59:
        return None
    return sign * timedelta(hours=int(hours), minutes=int(minutes))


def _print_datetime(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") + _print_fraction(value.microsecond)


def _print_fraction(microseconds: int) -> str:
    return f".{microseconds:06d}".rstrip("0") if microseconds else ""


def _time(text: str) -> str | None:
    """time without time zone: a time of day without an offset (one is ignored by PostgreSQL, but not read)."""
    match = _TIME_ONLY.match(text)
    if match is None or match["zone"] is not None:
        return None
    clock = _clock(match)
    return _print_clock(clock) if clock is not None else None


def _timetz(text: str) -> str | None:
    """time with time zone keeps its offset: `'12:00+02'` and `'10:00+00'` are different values."""
    match = _TIME_ONLY.match(text)
    clock = _clock(match) if match is not None else None
    offset = _offset(match["zone"]) if match is not None else None
    if clock is None or offset is None:
        return None
    minutes = int(abs(offset).total_seconds()) // 60
    zone = ("-" if offset < timedelta() else "+") + f"{minutes // 60:02d}"
    return _print_clock(clock) + (zone + f":{minutes % 60:02d}" if minutes % 60 else zone)


def _print_clock(clock: timedelta) -> str:
    seconds = int(clock.total_seconds())
    hours, rest = divmod(seconds, 3600)
    return f"{hours:02d}:{rest // 60:02d}:{rest % 60:02d}" + _print_fraction(clock.microseconds)


# --- interval: PostgreSQL keeps months, days and microseconds apart ('1 day' is not '24:00:00') -----------

_MICROSECONDS = {
    "microsecond": 1,
    "usec": 1,
    "us": 1,
    "millisecond": 1000,
    "msec": 1000,
    "ms": 1000,
    "second": 10**6,
    "sec": 10**6,
    "s": 10**6,
    "minute": 60 * 10**6,
    "min": 60 * 10**6,
    "m": 60 * 10**6,
    "hour": 3600 * 10**6,
    "hr": 3600 * 10**6,
    "h": 3600 * 10**6,
}
_DAYS = {"day": 1, "d": 1, "week": 7, "w": 7}
_MONTHS = {
    "month": 1,
    "mon": 1,
    "year": 12,
    "yr": 12,
    "y": 12,
    "decade": 120,
    "century": 1200,
    "centurie": 1200,
    "millennium": 12000,
    "millennia": 12000,
}
_INTERVAL_TOKEN = re.compile(
    r"\s*(?:(?P<clock>[+-]?\d+:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)"
    r"|(?P<number>[+-]?(?:\d+\.?\d*|\.\d+))\s*(?P<unit>[a-zA-Z]*))"
)


def _interval(text: str) -> str | None:
    """PostgreSQL's own interval format (`1 day 02:00:00`, `90 minutes`, `@ 1 hour ago`, `-1 days +02:00`)."""
    body = text.removeprefix("@").strip()
    negate = body.lower().endswith(" ago") or body.lower() == "ago"
    body = body[: -len("ago")].strip() if negate else body
    months = days = microseconds = 0
    position = 0
    while position < len(body):
        match = _INTERVAL_TOKEN.match(body, position)
        if match is None or match.end() == position:
            return None
        position = match.end()
        if match["clock"] is not None:
            clock = _interval_clock(match["clock"])
            if clock is None:
                return None
            microseconds += clock
            continue
        unit = match["unit"].lower()
        unit = unit[:-1] if len(unit) > 1 and unit.endswith("s") and unit not in ("us", "ms") else unit
        try:
            number = Decimal(match["number"])
        except InvalidOperation:
            return None
        if unit in _MICROSECONDS or unit == "":
            value = number * _MICROSECONDS.get(unit, 10**6)  # a bare number is seconds
            if value != value.to_integral_value():
                return None
            microseconds += int(value)
        elif unit in _DAYS and number == number.to_integral_value():
            days += int(number) * _DAYS[unit]
        elif unit in _MONTHS and number == number.to_integral_value():
            months += int(number) * _MONTHS[unit]
        else:
            return None  # fractional days, months or years: PostgreSQL spreads them, not read here
    if not body:
        return None
    sign = -1 if negate else 1
    return _print_interval(sign * months, sign * days, sign * microseconds)


def _interval_clock(text: str) -> int | None:
    sign = -1 if text.startswith("-") else 1
    hours, minutes, *rest = text.lstrip("+-").split(":")
    seconds = Decimal(rest[0]) if rest else Decimal(0)
    if int(minutes) > 59 or seconds >= 60:
        return None
    return sign * int((int(hours) * 3600 + int(minutes) * 60 + seconds) * 10**6)


def _print_interval(months: int, days: int, microseconds: int) -> str:
    """As PostgreSQL prints it (IntervalStyle postgres): `1 year 2 mons -3 days +04:05:06.5`."""
    years, months = int(months / 12), months - int(months / 12) * 12  # C's truncating division
    parts = [
        f"{value} {name}{'' if value == 1 else 's'}"
        for value, name in ((years, "year"), (months, "mon"), (days, "day"))
        if value
    ]
    if microseconds or not parts:
        negative_before = any(value < 0 for value in (years, months, days))
        sign = "-" if microseconds < 0 else "+" if negative_before else ""
        clock = timedelta(microseconds=abs(microseconds))
        parts.append(sign + _print_clock(clock))
    return " ".join(parts)


def _uuid(text: str) -> str | None:
    match = _UUID.match(text)
    if match is None or bool(match[1]) != bool(match[3]):
        return None
    digits = match[2].replace("-", "").lower()
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


def _json(text: str) -> str | None:
    """By content: key order, spacing and duplicate keys (the last one counts, as in jsonb) do not count."""
    try:
        parsed = json.loads(text)
    except ValueError:
        return None
    return json.dumps(parsed, sort_keys=True, separators=(",", ":"))


_READERS: dict[str, Callable[[str], str | None]] = {
    "date": _date,
    "timestamp without time zone": _timestamp,
    "timestamp with time zone": _timestamptz,
    "time without time zone": _time,
    "time with time zone": _timetz,
    "interval": _interval,
    "uuid": _uuid,
    "json": _json,
    "jsonb": _json,
}
TYPED_LITERAL_TYPES = frozenset(_READERS)
