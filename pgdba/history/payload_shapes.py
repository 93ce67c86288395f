"""The layout of each kind's stored payload that its readers rely on.

The history store checks a payload against its kind's shape as it reads it, so a store edited by hand or
damaged on disk is reported as corrupt (one line, exit 2) instead of crashing the command that reads it.
A shape checks the containers, the keys the readers index and the type of every value they read (a row's
fields as its dataclass declares them); a field or kind not listed here (one a newer pgdba writes) is not
checked.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pgdba.findings import Severity
from pgdba.stats.database import DatabaseStats
from pgdba.stats.indexes import IndexStats
from pgdba.stats.statements import StatementStats
from pgdba.stats.tables import TableStats

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


def is_bool(value: Any) -> bool:
    return isinstance(value, bool)


def is_timestamp(value: Any) -> bool:
    """An ISO 8601 timestamp, as pgdba writes datetimes."""
    if not isinstance(value, str):
        return False
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def optional(check: Check) -> Check:
    return either(is_null, check)


_CHECK_OF_TYPE: dict[Any, Check] = {
    int: is_number,  # JSON does not keep 1 and 1.0 apart
    float: is_number,
    str: is_text,
    bool: is_bool,
    datetime: is_timestamp,
    type(None): is_null,
}


def _check_of_annotation(annotation: Any) -> Check:
    origin = typing.get_origin(annotation)
    if origin in (types.UnionType, typing.Union):
        return either(*(_check_of_annotation(arg) for arg in typing.get_args(annotation)))
    if origin in (tuple, list):
        return list_of(_check_of_annotation(typing.get_args(annotation)[0]))
    return _CHECK_OF_TYPE.get(annotation, lambda _value: True)


def fields_of(row_type: type) -> Check:
    """An object whose fields named as `row_type`'s dataclass fields, where present, have their declared
    types (rows of an older pgdba lack the newer fields; their readers default them)."""
    hints = typing.get_type_hints(row_type)
    return object_with(**{f.name: _check_of_annotation(hints[f.name]) for f in dataclasses.fields(row_type)})


def _number_pair(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and all(is_number(v) for v in value)


def _severity(value: Any) -> bool:
    return value in {s.value for s in Severity}


def rows_of(row_type: type, what: str) -> PayloadShape:
    return PayloadShape(f"a list of {what} rows", list_of(fields_of(row_type)))


# pgdba.alerts.values.counters_payload: counters by database, [calls, total_ms] by statement
_ALERT_COUNTERS = PayloadShape(
    "an object of database and statement counters",
    object_with(databases=object_of(object_of(is_number)), statements=object_of(_number_pair)),
)
# pgdba.alerts.check: {"sizes": {table: bytes}, "oids": {table: oid}, "partitions_summed": true}, or
# {table: bytes} before the OIDs
_TABLE_SIZES = PayloadShape(
    "an object of table sizes",
    either(
        both(
            object_having(sizes=object_of(is_number)),
            object_with(oids=either(is_null, object_of(is_number)), partitions_summed=is_bool),
        ),
        object_of(is_number),
    ),
)

SNAPSHOT_SHAPES: dict[str, PayloadShape] = {
    "statements": rows_of(StatementStats, "statement statistics"),
    "tables": rows_of(TableStats, "table statistics"),
    "indexes": rows_of(IndexStats, "index statistics"),
    "database": rows_of(DatabaseStats, "database statistics"),
    "alerts.counters": _ALERT_COUNTERS,
    "table_sizes": _TABLE_SIZES,
}

OBJECT = PayloadShape("a JSON object", is_object)


# pgdba.alerts.evaluate's OK, WARNING, CRITICAL (it imports the store, so not imported from there)
_ALERT_LEVELS = ("ok", "warning", "critical")


def _alert_level(value: Any) -> bool:
    return value in _ALERT_LEVELS


# pgdba.alerts.check's state: each alert's state and each channel's sent notifications
_ALERT_STATE = PayloadShape(
    "an object of alert states",
    object_with(
        states=object_of(
            object_with(
                level=_alert_level,
                since=optional(is_timestamp),
                pending=optional(_alert_level),
                pending_since=optional(is_timestamp),
                value=optional(is_number),
                unknown=optional(is_text),
                warning_since=optional(is_timestamp),
                critical_since=optional(is_timestamp),
            )
        ),
        sent=object_of(is_object),
    ),
)
# pgdba.report.weekly: the findings the next report compares with
_REPORT = PayloadShape(
    "an object of report findings",
    object_with(
        findings=list_of(
            object_having(code=is_text, object=is_text, severity=_severity, title=is_text),
        ),
        score=optional(is_number),
    ),
)

RECORD_SHAPES: dict[str, PayloadShape] = {"alert_state": _ALERT_STATE, "report": _REPORT}
