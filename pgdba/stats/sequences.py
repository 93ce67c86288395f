"""Sequences: how much of their range is used, including int4 columns fed by a bigint sequence."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row

_TYPE_MAX = {"smallint": 32767, "integer": 2147483647, "bigint": 9223372036854775807}


@dataclass(frozen=True)
class SequenceStats:
    schema: str
    sequence: str
    data_type: str
    last_value: int | None
    min_value: int
    max_value: int
    increment: int
    cycle: bool
    readable: bool
    owner_column: str | None
    owner_column_type: str | None

    @property
    def qualified_name(self) -> str:
        return f"{self.schema}.{self.sequence}"

    @property
    def effective_max(self) -> int:
        """The lower of the sequence's max and the range of the column it feeds (an int4 column fed by a
        bigint sequence overflows at 2^31-1, not at the sequence's max)."""
        column_max = _TYPE_MAX.get(self.owner_column_type or "", self.max_value)
        return min(self.max_value, column_max)

    @property
    def used_ratio(self) -> float | None:
        if self.last_value is None:
            return None
        if self.increment > 0:
            span = self.effective_max - self.min_value
            return (self.last_value - self.min_value) / span if span > 0 else 1.0
        span = self.max_value - self.min_value
        return (self.max_value - self.last_value) / span if span > 0 else 1.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# last_value is NULL both for a sequence never used and for one we may not read: has_sequence_privilege
# tells the two apart (a pg_monitor role cannot read other roles' sequences).
SEQUENCES_SQL = """
SELECT s.schemaname AS schema,
       s.sequencename AS sequence,
       s.data_type::text AS data_type,
       s.last_value,
       s.min_value,
       s.max_value,
       s.increment_by AS increment,
       s.cycle,
       has_sequence_privilege(c.oid, 'SELECT,USAGE') AS readable,
       a.attname AS owner_column,
       format_type(a.atttypid, NULL) AS owner_column_type
  FROM pg_sequences AS s
  JOIN pg_namespace AS n ON n.nspname = s.schemaname
  JOIN pg_class AS c ON c.relnamespace = n.oid AND c.relname = s.sequencename
  LEFT JOIN pg_depend AS d ON d.classid = 'pg_class'::regclass
                          AND d.objid = c.oid
                          AND d.refclassid = 'pg_class'::regclass
                          AND d.deptype IN ('a', 'i')
  LEFT JOIN pg_attribute AS a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
 ORDER BY s.schemaname, s.sequencename
"""


def sequence_stats(conn: psycopg.Connection) -> list[SequenceStats]:
    """Every sequence of the current database with the column it is owned by (serial / identity)."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(SEQUENCES_SQL).fetchall()
    return [SequenceStats(**row) for row in rows]
