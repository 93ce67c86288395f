"""The layout of each kind's stored payload that its readers rely on.

The history store checks a payload against its kind's shape as it reads it, so a store edited by hand or
damaged on disk is reported as corrupt (one line, exit 2) instead of crashing the command that reads it.
A shape checks the containers and the keys the readers index, not every value; a kind not listed here
(one a newer pgdba writes) is not checked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pgdba.findings import Severity

Check = Callable[[Any], bool]


@dataclass(frozen=True)
class PayloadShape:
    description: str
    matches: Check


def is_object(value: Any) -> bool:
    return isinstance(value, dict)


def is_text(value: Any) -> bool:
    return isinstance(value, str)


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def list_of(item: Check) -> Check:
    return lambda value: isinstance(value, list) and all(item(v) for v in value)


def object_of(item: Check) -> Check:
    """An object whose every value passes `item` (names are the readers' keys: tables, databases, …)."""
    return lambda value: isinstance(value, dict) and all(item(v) for v in value.values())


def object_with(**fields: Check) -> Check:
    """An object whose named fields, where present, pass their checks (readers default the missing ones)."""
    return lambda value: (
        isinstance(value, dict) and all(check(value[name]) for name, check in fields.items() if name in value)
    )


def object_having(**fields: Check) -> Check:
    """An object that has each named field, passing its check."""
    return lambda value: (
        isinstance(value, dict)
        and all(name in value and check(value[name]) for name, check in fields.items())
    )


def either(*checks: Check) -> Check:
    return lambda value: any(check(value) for check in checks)


def both(first: Check, second: Check) -> Check:
    return lambda value: first(value) and second(value)


def is_null(value: Any) -> bool:
    return value is None


def _number_pair(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and all(is_number(v) for v in value)


def _severity(value: Any) -> bool:
    return value in {s.value for s in Severity}


ROWS = PayloadShape("a list of JSON objects", list_of(is_object))

# pgdba.alerts.values.counters_payload: counters by database, [calls, total_ms] by statement
_ALERT_COUNTERS = PayloadShape(
    "an object of database and statement counters",
    object_with(databases=object_of(object_of(is_number)), statements=object_of(_number_pair)),
)
# pgdba.alerts.check: {"sizes": {table: bytes}, "oids": {table: oid}}, or {table: bytes} before the OIDs
_TABLE_SIZES = PayloadShape(
    "an object of table sizes",
    either(
        both(
            object_having(sizes=object_of(is_number)),
            object_with(oids=either(is_null, object_of(is_number))),
        ),
        object_of(is_number),
    ),
)

SNAPSHOT_SHAPES: dict[str, PayloadShape] = {
    "statements": ROWS,
    "tables": ROWS,
    "indexes": ROWS,
    "database": ROWS,
    "alerts.counters": _ALERT_COUNTERS,
    "table_sizes": _TABLE_SIZES,
}

OBJECT = PayloadShape("a JSON object", is_object)
# pgdba.alerts.check's state: each alert's state and each channel's sent notifications
_ALERT_STATE = PayloadShape(
    "an object of alert states", object_with(states=object_of(is_object), sent=object_of(is_object))
)
# pgdba.report.weekly: the findings the next report compares with
_REPORT = PayloadShape(
    "an object of report findings",
    object_with(
        findings=list_of(
            object_having(code=is_text, object=is_text, severity=_severity, title=is_text),
        )
    ),
)

RECORD_SHAPES: dict[str, PayloadShape] = {"alert_state": _ALERT_STATE, "report": _REPORT}
