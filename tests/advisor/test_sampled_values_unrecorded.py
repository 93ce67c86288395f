"""The values the advisor costs and measures with (sampled from pg_stats, or the application's own constants
that pg_qualstats saw) never reach pg_stat_statements: for a role that may not turn tracking off, pgdba's
EXPLAINs are recorded, and PostgreSQL 14 and 15 record a literal in an EXPLAIN's text verbatim."""

from __future__ import annotations

import pytest
from psycopg import sql

from pgdba.advisor.advise import AdvisorOptions, advise_indexes
from pgdba.advisor.sampling import BoundQuery
from pgdba.advisor.verify import measure
from pgdba.advisor.workload import WorkloadQuery
from pgdba.server import load_server_facts
from pgdba.target import Target
from tests.advisor.test_sampling import SKEWED
from tests.conftest import TestDatabase
from tests.test_own_statements import forget_statements, recorded

# a status only this test's table holds: any recorded text with "zq-" carries a value pgdba bound
MARKED = SKEWED.replace("'open'", "'zq-open'").replace("'closed'", "'zq-closed'")
QUERY = "SELECT * FROM tickets WHERE status = $1 ORDER BY opened_at DESC LIMIT $2"


@pytest.mark.hypopg
def test_a_tracked_role_leaves_no_bound_value_in_pg_stat_statements(
    db: TestDatabase, monitor_role: Target
) -> None:
    db.execute(MARKED)
    role = sql.Identifier(str(monitor_role.params()["user"])).as_string()
    db.execute(f"GRANT SELECT ON tickets TO {role}")
    forget_statements(db)
    with monitor_role.connect() as conn:  # tracked: the role may not turn it off
        advice = advise_indexes(conn, load_server_facts(conn), [WorkloadQuery(QUERY)], AdvisorOptions())
        before_ms = measure(conn, BoundQuery(QUERY, ("zq-open", "10")))
    # the query was costed with sampled values, and measured with the bound ones
    assert [q.costing for r in advice.recommendations for q in r.queries] == ["sampled"]
    assert before_ms > 0
    texts = recorded(db)
    explains = [t for t in texts if t.startswith("EXPLAIN")]
    assert any("ANALYZE" in t for t in explains) and any("ANALYZE" not in t for t in explains), texts
    assert [t for t in texts if "zq-" in t] == []
