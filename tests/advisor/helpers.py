"""The advisor on a test database, as the tests call it."""

from __future__ import annotations

from typing import Any

import psycopg

from pgdba.advisor.advise import Advice, AdvisorOptions, advise_indexes
from pgdba.advisor.catalog import TableInfo, load_tables, resolve_relations
from pgdba.advisor.query_columns import columns_by_role
from pgdba.advisor.sampling import BoundQuery, StatsReader, bind_parameters
from pgdba.advisor.verify import verify_advice
from pgdba.advisor.workload import WorkloadQuery
from pgdba.checks.indexes import IndexAges
from pgdba.server import load_server_facts
from tests.conftest import TestDatabase


def advise(
    db: TestDatabase, queries: list[str], *, index_ages: IndexAges | None = None, **options: object
) -> Advice:
    """advise_indexes on `queries` (one call each) with AdvisorOptions(**options)."""
    with db.target.connect() as conn:
        facts = load_server_facts(conn)
        workload = [WorkloadQuery(q) for q in queries]
        return advise_indexes(conn, facts, workload, AdvisorOptions(**options), index_ages=index_ages)  # type: ignore[arg-type]


def verified(db: TestDatabase, advice: Advice) -> dict[str, Any]:
    """`--verify` on a scratch copy of the test database (verify_advice), the recommendations marked."""
    with db.target.connect() as conn:
        facts = load_server_facts(conn)
    return verify_advice(db.target, facts, advice, on_target=False)


def run_bound(conn: psycopg.Connection, bound: BoundQuery, text: str | None = None) -> list[tuple[Any, ...]]:
    """The rows of a bound query (or of `text`, with the same `$n`), its values sent as parameters, as
    the advisor's EXPLAINs send them."""
    return psycopg.RawCursor(conn).execute(text or bound.sql, bound.values).fetchall()


def table_info(conn: psycopg.Connection, name: str) -> TableInfo:
    """The advisor's catalog facts of one table (pgdba.advisor.catalog), named as a query would name it."""
    oids = resolve_relations(conn, {name})
    return load_tables(conn, oids.values())[oids[name]]


def sampled(conn: psycopg.Connection, table: str, text: str) -> BoundQuery:
    """`text` bound to values for its `$n` (bind_parameters over the one table it reads), which it must get."""
    bound = bind_parameters(StatsReader(conn), text, columns_by_role(text), {table: table_info(conn, table)})
    assert bound is not None
    return bound
