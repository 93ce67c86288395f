"""Partitioned tables in the check-up and capacity: sized and judged as one table (their partitions' sums),
a foreign key or a missing primary key reported once, on the partitioned table, with SQL PostgreSQL runs."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pgdba.cli import main
from pgdba.history.snapshot import TABLES, size_history, snapshot_meta
from pgdba.history.store import HistoryStore
from pgdba.server import load_server_facts
from pgdba.stats.tables import table_stats
from tests.checkup.helpers import find, run, script
from tests.conftest import TestDatabase

EVENTS = """
CREATE TABLE parent (id int PRIMARY KEY, name text);
INSERT INTO parent SELECT g, 'p' || g FROM generate_series(1, 1000) g;
CREATE TABLE events (id bigint, parent_id int REFERENCES parent (id), kind int, ts timestamp NOT NULL)
    PARTITION BY RANGE (ts);
CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
INSERT INTO events
SELECT g, 1 + g % 1000, g % 10, '2024-01-01'::timestamp + (g % 700) * interval '1 day'
  FROM generate_series(1, 100000) g;
CREATE INDEX events_kind_idx ON events (kind);
ANALYZE events_2024;
ANALYZE events_2025
"""

# 4 hash partitions: each grows by a quarter of what the table grows
METRICS = """
CREATE TABLE metrics (id bigint NOT NULL, payload text) PARTITION BY HASH (id);
CREATE TABLE metrics_0 PARTITION OF metrics FOR VALUES WITH (MODULUS 4, REMAINDER 0);
CREATE TABLE metrics_1 PARTITION OF metrics FOR VALUES WITH (MODULUS 4, REMAINDER 1);
CREATE TABLE metrics_2 PARTITION OF metrics FOR VALUES WITH (MODULUS 4, REMAINDER 2);
CREATE TABLE metrics_3 PARTITION OF metrics FOR VALUES WITH (MODULUS 4, REMAINDER 3)
"""
FILL_METRICS = "INSERT INTO metrics SELECT g, repeat('x', 200) FROM generate_series(1, 20000) g"  # ~5 MB
MB = 1024**2


def _snapshot_tables_at(db: TestDatabase, store: HistoryStore, ago: timedelta) -> list[dict[str, Any]]:
    """What `pgdba snapshot` stores for the tables, placed `ago` in the past."""
    with db.connect() as conn:
        payload = [t.to_dict() for t in table_stats(conn)]
        meta = snapshot_meta(load_server_facts(conn))
    store.save_snapshot(db.target.key, TABLES, payload, meta=meta, taken_at=datetime.now(UTC) - ago)
    return payload


@pytest.mark.catalog
def test_a_foreign_key_of_a_partitioned_table_is_reported_once_with_sql_postgresql_runs(
    db: TestDatabase,
) -> None:
    script(db, EVENTS)
    [missing] = find(run(db, "index.missing_fk"), "index.missing_fk")
    assert missing.object == "public.events"  # not again for each partition's clone of the key
    assert missing.metrics["table_rows"] == 100_000  # the partitions' rows: the table itself was not analysed
    # PostgreSQL refuses CONCURRENTLY on a partitioned table, and the one statement blocks writes to every
    # partition while it builds: ON ONLY the table, each partition CONCURRENTLY, attached to it
    assert missing.sql is not None
    assert missing.sql.splitlines() == [
        'CREATE INDEX IF NOT EXISTS "events_parent_id_idx" ON ONLY "public"."events" USING btree ("parent_id");',
        'CREATE INDEX CONCURRENTLY IF NOT EXISTS "events_2024_parent_id_idx" ON "public"."events_2024" '
        'USING btree ("parent_id");',
        'ALTER INDEX "public"."events_parent_id_idx" ATTACH PARTITION "public"."events_2024_parent_id_idx";',
        'CREATE INDEX CONCURRENTLY IF NOT EXISTS "events_2025_parent_id_idx" ON "public"."events_2025" '
        'USING btree ("parent_id");',
        'ALTER INDEX "public"."events_parent_id_idx" ATTACH PARTITION "public"."events_2025_parent_id_idx";',
    ]
    assert "without blocking writes" in missing.recommendation
    for statement in missing.sql.splitlines():  # one at a time, as psql runs them: CONCURRENTLY needs it
        db.execute(statement)
    with db.connect() as conn:
        row = conn.execute(
            "SELECT indisvalid FROM pg_index WHERE indexrelid = 'events_parent_id_idx'::regclass"
        )
        assert row.fetchone() == (True,)
    assert find(run(db, "index.missing_fk"), "index.missing_fk") == []  # one index on each partition now


@pytest.mark.catalog
def test_a_foreign_key_indexed_on_every_partition_is_served_and_one_partitions_index_is_attached(
    db: TestDatabase,
) -> None:
    script(db, EVENTS)
    # each partition indexed by hand (the foreign key's lookups scan them): nothing is missing
    db.execute(
        "CREATE INDEX mine_2024 ON events_2024 (parent_id); CREATE INDEX mine_2025 ON events_2025 (parent_id)"
    )
    assert find(run(db, "index.missing_fk"), "index.missing_fk") == []
    # one partition without: the key lacks an index there, and the other partition's own is attached
    db.execute("DROP INDEX mine_2024")
    [missing] = find(run(db, "index.missing_fk"), "index.missing_fk")
    assert missing.sql is not None
    assert missing.sql.splitlines() == [
        'CREATE INDEX IF NOT EXISTS "events_parent_id_idx" ON ONLY "public"."events" USING btree ("parent_id");',
        'CREATE INDEX CONCURRENTLY IF NOT EXISTS "events_2024_parent_id_idx" ON "public"."events_2024" '
        'USING btree ("parent_id");',
        'ALTER INDEX "public"."events_parent_id_idx" ATTACH PARTITION "public"."events_2024_parent_id_idx";',
        'ALTER INDEX "public"."events_parent_id_idx" ATTACH PARTITION "public"."mine_2025";',
    ]
    for statement in missing.sql.splitlines():
        db.execute(statement)
    assert find(run(db, "index.missing_fk"), "index.missing_fk") == []
    with db.connect() as conn:
        on_2025 = conn.execute(
            "SELECT indexrelid::regclass::text FROM pg_index "
            "WHERE indrelid = 'events_2025'::regclass AND pg_get_indexdef(indexrelid) LIKE '%%(parent_id)'"
        )
        assert on_2025.fetchall() == [("mine_2025",)]  # attached: no second one built


@pytest.mark.catalog
def test_a_foreign_key_to_a_partitioned_table_is_reported_once(db: TestDatabase) -> None:
    script(
        db,
        "CREATE TABLE region (id int PRIMARY KEY) PARTITION BY HASH (id);"
        "CREATE TABLE region_0 PARTITION OF region FOR VALUES WITH (MODULUS 2, REMAINDER 0);"
        "CREATE TABLE region_1 PARTITION OF region FOR VALUES WITH (MODULUS 2, REMAINDER 1);"
        "INSERT INTO region SELECT generate_series(1, 100);"
        "CREATE TABLE shop (id int PRIMARY KEY, region_id int REFERENCES region (id));"
        "INSERT INTO shop SELECT g, 1 + g % 100 FROM generate_series(1, 20000) g;"
        "ANALYZE shop",
    )
    # PostgreSQL keeps one pg_constraint row per referenced partition besides the key's own
    found = find(run(db, "index.missing_fk"), "index.missing_fk")
    assert [(f.object, f.metrics["constraint"]) for f in found] == [("public.shop", "shop_region_id_fkey")]
    assert found[0].sql == 'CREATE INDEX CONCURRENTLY "shop_region_id_idx" ON "public"."shop" ("region_id");'


@pytest.mark.catalog
def test_a_partitioned_table_without_primary_key_is_reported_once_not_for_each_partition(
    db: TestDatabase,
) -> None:
    script(db, EVENTS)
    [no_key] = find(run(db, "table.no_primary_key"), "table.no_primary_key")
    assert no_key.object == "public.events" and no_key.metrics["rows"] == 100_000
    assert "partition key" in no_key.recommendation


@pytest.mark.catalog
def test_a_partitioned_tables_sizes_are_its_partitions_summed(
    db: TestDatabase, capsys: pytest.CaptureFixture[str]
) -> None:
    script(db, EVENTS)
    # the sizes are read twice below: vacuum now, so autovacuum's pass over the freshly loaded partitions
    # (which writes their visibility and free-space maps) cannot grow them between the two reads
    db.execute("VACUUM events")
    with db.connect() as conn:
        tables = {t.table: t for t in table_stats(conn)}
    events, parts = tables["events"], [tables["events_2024"], tables["events_2025"]]
    assert events.partitions_summed and not events.is_partition
    assert all(p.is_partition and not p.partitions_summed for p in parts)
    for size in ("total_bytes", "table_bytes", "index_bytes", "toast_bytes"):
        assert getattr(events, size) == sum(getattr(p, size) for p in parts)
    assert events.index_bytes > 0  # the partitions' parts of events_kind_idx
    capsys.readouterr()
    assert main(["capacity", "tables", "--dsn", db.dsn, "-f", "json"]) == 0
    rows = {r["table"]: r for r in json.loads(capsys.readouterr().out)["tables"]}
    assert rows["events"]["totalBytes"] == events.total_bytes > 4 * MB
    assert rows["events"]["rows"] == 100_000 and rows["events"]["partitioned"]
    assert not rows["events_2024"]["partitioned"]
    assert main(["capacity", "tables", "--dsn", db.dsn]) == 0
    assert "public.events: partitioned, sizes summed over the partitions" in capsys.readouterr().out


@pytest.mark.catalog
def test_growth_is_judged_on_the_partitioned_table_not_on_each_partition(
    db: TestDatabase, tmp_path: Path
) -> None:
    script(db, METRICS)
    store = HistoryStore(tmp_path / "h.sqlite3")
    _snapshot_tables_at(db, store, timedelta(hours=2))
    db.execute(FILL_METRICS)  # ~1.25 MB a partition, ~5 MB in all, in "two hours"
    # 1 MB/h: each partition grows less than that, the table as a whole more
    options = {"min_window_seconds": 3600, "warning_bytes_per_hour": MB}
    found = find(
        run(db, "capacity.table_growth", store=store, capacity__table_growth=options), "capacity.table_growth"
    )
    assert [f.object for f in found] == ["public.metrics"]
    assert found[0].metrics["bytes_now"] > 4 * MB


@pytest.mark.catalog
def test_a_partitioned_tables_zero_size_in_an_older_snapshot_is_no_sample(
    db: TestDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script(db, METRICS)
    db.execute(FILL_METRICS)
    store = HistoryStore(tmp_path / "h.sqlite3")
    with db.connect() as conn:
        payload = [t.to_dict() for t in table_stats(conn)]
        meta = snapshot_meta(load_server_facts(conn))
    for row in payload:  # as pgdba stored it before summing partitions: 0 bytes, no partitions_summed
        if row["kind"] == "partitioned table":
            row.pop("partitions_summed")
            row.update(total_bytes=0, table_bytes=0, index_bytes=0, toast_bytes=0)
    store.save_snapshot(
        db.target.key, TABLES, payload, meta=meta, taken_at=datetime.now(UTC) - timedelta(hours=2)
    )
    [(_, sizes)] = size_history(store, db.target.key, TABLES)
    assert "public.metrics" not in sizes and sizes["public.metrics_0"] > MB  # the partitions' are samples
    options = {"min_window_seconds": 3600, "warning_bytes_per_hour": 1}
    found = run(db, "capacity.table_growth", store=store, capacity__table_growth=options)
    assert find(found, "capacity.table_growth") == []  # not 5 MB grown from 0 in two hours
    capsys.readouterr()
    path = str(tmp_path / "h.sqlite3")
    args = ["capacity", "tables", "--dsn", db.dsn, "--store", path, "--forecast-days", "30", "-f", "json"]
    assert main(args) == 0
    rows = {r["table"]: r for r in json.loads(capsys.readouterr().out)["tables"]}
    assert (
        rows["public.metrics"]["bytesPerDay"] is None and rows["public.metrics_0"]["bytesPerDay"] is not None
    )


@pytest.mark.catalog
def test_sequential_scans_of_a_partitioned_table_are_one_finding_on_it(db: TestDatabase) -> None:
    # a query on the table scans each partition: two partitions, each counted once per query
    script(db, EVENTS)
    with db.connect() as conn:  # closing the session flushes its scan counters
        for _ in range(60):
            conn.execute("SELECT count(*) FROM events WHERE kind + 0 = 3")  # no index serves kind + 0
    found = find(run(db, "table.seq_scan_heavy"), "table.seq_scan_heavy")
    assert [f.object for f in found] == ["public.events"]  # not events_2024 and events_2025 each
    assert found[0].metrics["partitions"] == 2
    assert found[0].metrics["seq_scans"] >= 120 and found[0].metrics["rows"] >= 100_000
    assert found[0].title.startswith(
        f"{found[0].metrics['seq_scans']:,} sequential scans of its 2 partitions'"
    )
