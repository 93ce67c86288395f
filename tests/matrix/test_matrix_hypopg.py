"""HypoPG where the build has it (Debian's 15); the PyPI builds skip these tests with the reason."""

from __future__ import annotations

import pytest

from tests.conftest import TestDatabase

pytestmark = [pytest.mark.catalog, pytest.mark.hypopg]


def test_a_hypothetical_index_changes_the_plan(db: TestDatabase) -> None:
    db.execute("CREATE TABLE lessons (id int PRIMARY KEY, course int NOT NULL)")
    db.execute("INSERT INTO lessons SELECT g, g % 50 FROM generate_series(1, 5000) AS g")
    db.execute("ANALYZE lessons")
    with db.connect() as conn:
        plan_before = "\n".join(r[0] for r in conn.execute("EXPLAIN SELECT id FROM lessons WHERE course = 7"))
        (name,) = conn.execute(
            "SELECT indexname FROM hypopg_create_index('CREATE INDEX ON lessons (course)')"
        ).fetchone()  # type: ignore[misc]
        plan_after = "\n".join(r[0] for r in conn.execute("EXPLAIN SELECT id FROM lessons WHERE course = 7"))
    assert name not in plan_before
    assert name in plan_after
