"""The advisor on a test database, as the tests call it."""

from __future__ import annotations

from pgdba.advisor.advise import Advice, AdvisorOptions, advise_indexes
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
