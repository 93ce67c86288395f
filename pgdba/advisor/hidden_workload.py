"""The statements of other roles pg_stat_statements hides from the role the advisor reads the workload as."""

from __future__ import annotations

from collections.abc import Iterable

import psycopg

from pgdba.advisor.workload import WorkloadQuery
from pgdba.checks.statement_recommendations import is_application_query, parse_statement
from pgdba.errors import NotAvailable
from pgdba.server import ServerFacts
from pgdba.stats.statements import hidden_statements


def hidden_workload_notes(
    conn: psycopg.Connection, facts: ServerFacts, workload: Iterable[WorkloadQuery], *, instead: str = ""
) -> list[str]:
    """The advice's note on statements of other roles pg_stat_statements hides from this role (no
    pg_read_all_stats), weighed against the workload it read; none when it reads them all. Refused
    (NotAvailable, ending with `instead`: what the caller can do otherwise) when they hold most of the time:
    advice on the few statements left would be advice on the wrong workload."""
    hidden = hidden_statements(conn, facts)
    if hidden is None:
        return []
    # (the application's statements only: pgdba's own catalog queries, run by this role, are in the workload
    # read from pg_stat_statements until the advisor finds they read no table here)
    hidden = hidden.beside(sum(q.total_ms for q in workload if is_application_query(parse_statement(q.sql))))
    if hidden.most:
        raise NotAvailable(hidden.reason() + (f"; {instead}" if instead else ""))
    return [f"the workload is this role's statements only: {hidden.reason()}"]
