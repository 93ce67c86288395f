"""Table and index statistics on every major: provoked writes, scans, vacuums and index shapes are found."""

from __future__ import annotations

import psycopg
import pytest

from pgdba.checks.indexes import unused_indexes
from pgdba.stats.indexes import IndexStats, index_stats
from pgdba.stats.tables import TableStats, table_stats
from tests.conftest import TestDatabase
from tests.matrix.stats_visibility import eventually, publish_stats

pytestmark = pytest.mark.catalog


def _table(db: TestDatabase, name: str) -> TableStats | None:
    with db.target.connect() as conn:
        return next((t for t in table_stats(conn) if t.table == name), None)


def _indexes(db: TestDatabase, table: str) -> dict[str, IndexStats]:
    with db.target.connect() as conn:
        return {ix.index: ix for ix in index_stats(conn) if ix.table == table}


@pytest.fixture
def orders(db: TestDatabase) -> str:
    """100 rows inserted, 30 deleted, 10 updated; autovacuum off so the dead rows stay."""
    with db.connect() as conn:
        conn.execute(
            "CREATE TABLE orders (id int PRIMARY KEY, customer int NOT NULL, note text)"
            " WITH (autovacuum_enabled = off)"
        )
        conn.execute("INSERT INTO orders SELECT g, g % 7, repeat('x', 20) FROM generate_series(1, 100) AS g")
        conn.execute("DELETE FROM orders WHERE id <= 30")
        conn.execute("UPDATE orders SET note = 'changed' WHERE id > 90")
        publish_stats(conn)
    return "orders"


def test_table_writes_and_dead_rows_are_counted(db: TestDatabase, orders: str) -> None:
    t = eventually(lambda: _table(db, orders), lambda t: t is not None and t.deletes == 30)
    assert t is not None
    assert (t.inserts, t.updates, t.deletes) == (100, 10, 30)
    assert t.live_rows == 70
    assert t.dead_rows == 40
    assert t.dead_ratio == pytest.approx(40 / 110)
    assert t.has_primary_key
    assert t.reloptions == ("autovacuum_enabled=off",)
    assert t.table_bytes > 0 and t.index_bytes > 0
    assert t.total_bytes >= t.table_bytes + t.index_bytes


def test_sequential_scans_are_counted(db: TestDatabase, orders: str) -> None:
    with db.connect() as conn:
        conn.execute("SET enable_indexscan = off")
        conn.execute("SET enable_bitmapscan = off")
        before = eventually(lambda: _table(db, orders), lambda t: t is not None and t.deletes == 30)
        assert before is not None
        for _ in range(3):
            conn.execute("SELECT count(*) FROM orders WHERE customer = 3")
        publish_stats(conn)
    after = eventually(
        lambda: _table(db, orders), lambda t: t is not None and t.seq_scans >= before.seq_scans + 3
    )
    assert after is not None
    assert after.seq_scans == before.seq_scans + 3
    assert after.seq_rows_read == before.seq_rows_read + 3 * 70


def test_vacuum_and_analyze_times_are_read(db: TestDatabase, orders: str) -> None:
    with db.target.connect(apply=True) as conn:
        conn.execute("VACUUM orders")
        conn.execute("ANALYZE orders")
        publish_stats(conn)
    t = eventually(
        lambda: _table(db, orders),
        lambda t: t is not None and t.vacuum_count == 1 and t.analyze_count == 1,
    )
    assert t is not None
    assert (t.vacuum_count, t.analyze_count) == (1, 1)
    assert t.last_vacuum is not None and t.last_analyze is not None
    assert t.last_vacuumed == t.last_vacuum
    assert t.dead_rows == 0
    assert t.modified_since_analyze == 0
    assert t.estimated_rows == 70


def test_never_analyzed_table_has_no_analyze_time(db: TestDatabase, orders: str) -> None:
    t = eventually(lambda: _table(db, orders), lambda t: t is not None and t.deletes == 30)
    assert t is not None
    assert t.last_analyzed is None
    assert t.modified_since_analyze == 100 + 10 + 30


def test_index_scans_are_counted_per_index(db: TestDatabase, orders: str) -> None:
    db.execute("CREATE INDEX orders_customer_idx ON orders (customer)")
    settled = eventually(lambda: _table(db, orders), lambda t: t is not None and t.deletes == 30)
    assert settled is not None
    pkey_scans = _indexes(db, orders)["orders_pkey"].scans
    with db.connect() as conn:
        conn.execute("SET enable_seqscan = off")
        conn.execute("SET enable_bitmapscan = off")
        for customer in range(4):
            conn.execute("SELECT id FROM orders WHERE customer = %s", (customer,))
        publish_stats(conn)
    found = eventually(
        lambda: _indexes(db, orders),
        lambda ix: ix.get("orders_customer_idx", None) is not None and ix["orders_customer_idx"].scans == 4,
    )
    assert found["orders_customer_idx"].scans == 4
    # customers 0-3 have 10 of the 70 remaining rows each
    assert found["orders_customer_idx"].tuples_read == 40
    assert found["orders_pkey"].scans == pkey_scans


def test_index_shapes_are_told_apart(db: TestDatabase, orders: str) -> None:
    db.execute("ALTER TABLE orders ADD CONSTRAINT orders_note_key UNIQUE (note, id)")
    db.execute("CREATE INDEX orders_recent_idx ON orders (customer, id) WHERE id > 50")
    db.execute("CREATE INDEX orders_note_hash ON orders USING hash (note)")
    ix = _indexes(db, orders)
    assert set(ix) == {"orders_pkey", "orders_note_key", "orders_recent_idx", "orders_note_hash"}
    pkey, unique, partial, hashed = (
        ix["orders_pkey"],
        ix["orders_note_key"],
        ix["orders_recent_idx"],
        ix["orders_note_hash"],
    )
    assert (pkey.is_primary, pkey.is_unique, pkey.backs_constraint) == (True, True, True)
    assert (unique.is_primary, unique.is_unique, unique.backs_constraint) == (False, True, True)
    assert unique.columns == ("note", "id")
    assert partial.is_partial and not partial.protected
    assert partial.columns == ("customer", "id")
    assert hashed.method == "hash"
    assert all(i.is_valid for i in ix.values())
    assert "WHERE (id > 50)" in partial.definition


def test_a_failed_concurrent_build_leaves_an_invalid_index_that_is_found(
    db: TestDatabase, orders: str
) -> None:
    with db.connect() as conn, pytest.raises(psycopg.errors.UniqueViolation):
        conn.execute("CREATE UNIQUE INDEX CONCURRENTLY orders_customer_uniq ON orders (customer)")
    ix = _indexes(db, orders)
    assert ix["orders_customer_uniq"].is_valid is False


def test_unused_index_check_finds_only_the_unscanned_unprotected_index(db: TestDatabase, orders: str) -> None:
    db.execute("CREATE INDEX orders_customer_idx ON orders (customer)")
    db.execute("CREATE INDEX orders_note_idx ON orders (note)")
    with db.connect() as conn:
        conn.execute("SET enable_seqscan = off")
        conn.execute("SELECT id FROM orders WHERE customer = 1")
        publish_stats(conn)
    indexes = eventually(
        lambda: list(_indexes(db, orders).values()),
        lambda found: any(i.index == "orders_customer_idx" and i.scans == 1 for i in found),
    )
    assert [i.index for i in unused_indexes(indexes)] == ["orders_note_idx"]
