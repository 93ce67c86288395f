"""Sequences: how much of their range is used, including int4 columns fed by a bigint sequence."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row

_TYPE_MAX = {"smallint": 32767, "integer": 2147483647, "bigint": 9223372036854775807}
_TYPE_MIN = {name: -high - 1 for name, high in _TYPE_MAX.items()}


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
    def effective_min(self) -> int:
        """The higher of the sequence's min and the column's lowest value (for descending sequences)."""
        column_min = _TYPE_MIN.get(self.owner_column_type or "", self.min_value)
        return max(self.min_value, column_min)

    @property
    def limit(self) -> int:
        """The value the sequence runs out at: the effective max when ascending, the effective min when not."""
        return self.effective_max if self.increment > 0 else self.effective_min

    @property
    def narrower_column(self) -> bool:
        """The column it feeds runs out before the sequence does (CYCLE does not help then)."""
        return self.limit != (self.max_value if self.increment > 0 else self.min_value)

    @property
    def used_ratio(self) -> float | None:
        if self.last_value is None:
            return None
        if self.increment > 0:
            span = self.effective_max - self.min_value
            return (self.last_value - self.min_value) / span if span > 0 else 1.0
        span = self.max_value - self.effective_min
        return (self.max_value - self.last_value) / span if span > 0 else 1.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# last_value is NULL both for a sequence never used and for one we may not read: has_sequence_privilege
# tells the two apart (a pg_monitor role cannot read other roles' sequences). The column a sequence feeds is
# the one it is OWNED BY (serial, identity) or else one whose DEFAULT calls it (a hand-made CREATE SEQUENCE
# is bigint and owned by nothing); of several, the narrowest runs out first.
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
       fed.attname AS owner_column,
       format_type(fed.atttypid, NULL) AS owner_column_type
  FROM pg_sequences AS s
  JOIN pg_namespace AS n ON n.nspname = s.schemaname
  JOIN pg_class AS c ON c.relnamespace = n.oid AND c.relname = s.sequencename
  LEFT JOIN LATERAL (SELECT u.attname, u.atttypid
                       FROM (SELECT a.attname, a.atttypid, true AS owner
                               FROM pg_depend AS d
                               JOIN pg_attribute AS a ON a.attrelid = d.refobjid
                                                     AND a.attnum = d.refobjsubid
                              WHERE d.classid = 'pg_class'::regclass
                                AND d.objid = c.oid
                                AND d.refclassid = 'pg_class'::regclass
                                AND d.deptype IN ('a', 'i')
                             UNION ALL
                             SELECT a.attname, a.atttypid, false AS owner
                               FROM pg_depend AS d
                               JOIN pg_attrdef AS ad ON ad.oid = d.objid
                               JOIN pg_attribute AS a ON a.attrelid = ad.adrelid AND a.attnum = ad.adnum
                              WHERE d.classid = 'pg_attrdef'::regclass
                                AND d.refclassid = 'pg_class'::regclass
                                AND d.refobjid = c.oid
                                AND NOT a.attisdropped) AS u
                      ORDER BY CASE u.atttypid WHEN 'int2'::regtype THEN 1
                                               WHEN 'int4'::regtype THEN 2
                                               ELSE 3 END,
                               u.owner DESC
                      LIMIT 1) AS fed ON true
 ORDER BY s.schemaname, s.sequencename
"""


def sequence_stats(conn: psycopg.Connection) -> list[SequenceStats]:
    """Every sequence of the current database with the column it is owned by (serial / identity)."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(SEQUENCES_SQL).fetchall()
    return [SequenceStats(**row) for row in rows]
