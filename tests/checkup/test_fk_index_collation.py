"""An index serves a foreign key only under the key column's collation: the lookups the key's checks make
on the referencing table (`fk_column = $1` under the column's collation) cannot use an index whose key has
another collation, even a deterministic one equal for equality ("C" on a default-collation column of a "C"
database). Each test asks the planner first, so the rule is the server's, on every major of the matrix."""

from __future__ import annotations

import psycopg
import pytest

from pgdba.advisor.candidates import Candidate
from pgdba.advisor.foreign_key_cover import foreign_keys_served
from pgdba.stats.foreign_keys import foreign_keys
from pgdba.stats.indexes import index_stats
from tests.checkup.helpers import find, run, script
from tests.conftest import TestDatabase

SCHEMA = """
CREATE TABLE parent (code text PRIMARY KEY);
CREATE TABLE child (id int PRIMARY KEY, code text NOT NULL REFERENCES parent (code));
INSERT INTO parent SELECT 'p' || g FROM generate_series(1, 100) g;
INSERT INTO child SELECT g, 'p' || (1 + g % 100) FROM generate_series(1, 2000) g;
ANALYZE parent;
ANALYZE child;
"""

# the query the foreign key's checks run on the referencing table when a parent row is deleted or its key
# updated (ri_triggers.c): a prepared statement, planned generically as the trigger's saved plan is
REFERENTIAL_LOOKUP = "SELECT 1 FROM ONLY child x WHERE code OPERATOR(pg_catalog.=) $1 FOR KEY SHARE OF x"


def lookup_plan(db: TestDatabase) -> str:
    """The referential-integrity lookup's generic plan, sequential scans priced out of reach."""
    with db.connect() as conn:
        conn.execute("SET plan_cache_mode = force_generic_plan")
        conn.execute("SET enable_seqscan = off")
        conn.execute(f"PREPARE lookup(text) AS {REFERENTIAL_LOOKUP}")
        rows = conn.execute("EXPLAIN (COSTS OFF) EXECUTE lookup('p1')").fetchall()
    return "\n".join(row[0] for row in rows)


def fk_has_index(db: TestDatabase) -> bool:
    with psycopg.connect(db.dsn) as conn:
        [fk] = foreign_keys(conn)
    return fk.has_index


def serves_foreign_key(db: TestDatabase, index: str) -> str | None:
    with psycopg.connect(db.dsn) as conn:
        return next(ix.serves_foreign_key for ix in index_stats(conn) if ix.index == index)


@pytest.mark.catalog
def test_an_index_under_another_collation_than_the_key_column_does_not_serve_the_foreign_key(
    db: TestDatabase,
) -> None:
    script(db, SCHEMA + 'CREATE INDEX child_code_c_idx ON child (code COLLATE "C");')
    assert "child_code_c_idx" not in lookup_plan(db)  # the planner cannot use it for the key's lookups
    assert not fk_has_index(db)
    assert serves_foreign_key(db, "child_code_c_idx") is None  # so not kept as the key's index
    with psycopg.connect(db.dsn) as conn:  # an advised index on the column would index the key
        assert foreign_keys_served(Candidate("public", "child", ("code",)), foreign_keys(conn)) == [
            "child_code_fkey"
        ]
    [missing] = find(run(db, "index.missing_fk", index__missing_fk={"min_rows": 0}), "index.missing_fk")
    assert missing.metrics["constraint"] == "child_code_fkey"
    assert missing.sql == 'CREATE INDEX CONCURRENTLY "child_code_idx" ON "public"."child" ("code");'
    # the index it proposes takes the column's collation, and serves the key
    db.execute("CREATE INDEX child_code_idx ON child (code)")
    assert "child_code_idx" in lookup_plan(db)
    assert fk_has_index(db)
    assert serves_foreign_key(db, "child_code_idx") == "child_code_fkey"


@pytest.mark.catalog
def test_a_default_collation_index_does_not_serve_a_key_column_declared_with_another(
    db: TestDatabase,
) -> None:
    script(
        db,
        SCHEMA.replace("code text NOT NULL", 'code text COLLATE "C" NOT NULL')
        + 'CREATE INDEX child_code_default_idx ON child (code COLLATE "default");',
    )
    assert "child_code_default_idx" not in lookup_plan(db)
    assert not fk_has_index(db)
    assert serves_foreign_key(db, "child_code_default_idx") is None
    # a plain index on the column takes its "C" collation, and serves the key
    db.execute("CREATE INDEX child_code_idx ON child (code)")
    assert "child_code_idx" in lookup_plan(db)
    assert fk_has_index(db)
    assert serves_foreign_key(db, "child_code_idx") == "child_code_fkey"
