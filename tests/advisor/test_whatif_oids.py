"""HypoPG's fake-OID range (~2 800 hypothetical indexes at once without hypopg.use_real_oids): a long advisor
session never runs out, and a configuration larger than the range is one clear error, not a crash."""

from __future__ import annotations

import pytest

from pgdba.advisor.candidates import Candidate
from pgdba.advisor.whatif import WhatIfSession
from pgdba.errors import NotAvailable
from pgdba.server import load_server_facts
from tests.conftest import TestDatabase

QUERY = "SELECT * FROM items WHERE kind = 7 AND size > 40"


def partial(value: int) -> Candidate:
    """A distinct hypothetical index per value (the predicate differs)."""
    return Candidate("public", "items", ("size",), where_column="kind", where_value=value)


@pytest.fixture
def items(db: TestDatabase) -> TestDatabase:
    db.execute(
        "CREATE TABLE items (id int, kind int, size int);"
        "INSERT INTO items SELECT g, g % 10, g % 100 FROM generate_series(1, 20000) g; ANALYZE items"
    )
    return db


@pytest.mark.hypopg
def test_thousands_of_configurations_in_one_session(items: TestDatabase) -> None:
    with items.target.connect() as conn:
        session = WhatIfSession(conn, load_server_facts(conn).version_num)
        costs = [session.cost(1, QUERY, 0, {partial(v % 20), partial(1000 + v)}).cost for v in range(3000)]
        # 6 000 hypothetical indexes were created over the session; never more than two at once
        assert session.stats.calls == 3000
        listed = conn.execute("SELECT count(*) FROM hypopg_list_indexes").fetchone()
        assert listed == (2,)
        # the plan uses the partial index whose predicate matches the query (kind = 7) and only that one
        helped = session.cost(2, QUERY, 0, {partial(7)})
        assert helped.cost < min(costs[:7])
        assert helped.indexes == {partial(7).name()}
        session.close()
        assert conn.execute("SELECT count(*) FROM hypopg_list_indexes").fetchone() == (0,)


@pytest.mark.hypopg
def test_a_configuration_beyond_the_oid_range_is_one_clear_error(items: TestDatabase) -> None:
    with items.target.connect() as conn:
        session = WhatIfSession(conn, load_server_facts(conn).version_num)
        if session.real_oids:
            pytest.skip("this HypoPG uses real OIDs: it has no fake-OID range to exceed")
        huge = {partial(v) for v in range(3000)}
        with pytest.raises(NotAvailable, match="exceed HypoPG's OID range"):
            session.cost(1, QUERY, 0, huge)
        assert session.stats.resets == 1
        # the session is still usable for normal configurations
        assert session.cost(2, QUERY, 0, {partial(7)}).indexes == {partial(7).name()}
        session.close()
