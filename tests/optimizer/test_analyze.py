"""The query-optimizer report: each issue type is provoked by queries the test runs, then found."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from pgdba.cli import main
from pgdba.embedded import EmbeddedCluster
from pgdba.history.snapshot import take_snapshot
from pgdba.history.store import HistoryStore
from pgdba.optimizer import analyze_queries
from pgdba.server import load_server_facts
from pgdba.target import resolve_target, session
from tests.conftest import TestDatabase
from tests.inheritance_workload import READINGS_SQL
from tests.matrix.stats_visibility import eventually, publish_stats


def _make_events(db: TestDatabase, rows: int = 60_000) -> None:
    with db.connect() as conn:
        conn.execute(
            "CREATE TABLE events (id bigserial PRIMARY KEY, user_id int NOT NULL, kind text NOT NULL,"
            " created_at timestamptz NOT NULL, payload text)"
        )
        conn.execute(
            "INSERT INTO events (user_id, kind, created_at, payload)"
            " SELECT i %% 500, 'k' || (i %% 7), now() - i * interval '1 minute', repeat('x', 50)"
            " FROM generate_series(1, %s) AS i",
            (rows,),
        )
        conn.execute("ANALYZE events")
        conn.execute("SELECT pg_stat_statements_reset()")


def _find(report: dict[str, Any], fragment: str) -> dict[str, Any]:
    matches = [r for r in report["recommendations"] if fragment in r["query"]]
    assert matches, f"no recommendation for {fragment!r} in {[r['query'] for r in report['recommendations']]}"
    return matches[0]


@pytest.mark.catalog
def test_slow_query_gets_index_on_equality_then_range_columns(db: TestDatabase) -> None:
    _make_events(db)
    with db.connect() as conn:
        for user in range(15):
            conn.execute(
                "SELECT count(*) FROM events WHERE user_id = %s AND created_at > now() - %s::interval",
                (user, "3 days"),
            )
    report = analyze_queries(db.target, threshold_ms=0.5).to_dict()
    rec = _find(report, "FROM events WHERE user_id = $1")
    assert rec["metrics"]["calls"] == 15
    assert rec["metrics"]["meanTime"] >= 0.5
    assert "slow_query" in [i["type"] for i in rec["issues"]]
    index = [r for r in rec["recommendations"] if r["action"] == "create_index"]
    assert index and index[0]["columns"] == ["user_id", "created_at"]
    assert index[0]["description"] == "Consider index on: user_id, created_at"
    assert index[0]["sql"].startswith("CREATE INDEX CONCURRENTLY")
    assert report["threshold"] == "0.5ms" and report["analyzed"] >= 1


@pytest.mark.catalog
def test_query_served_by_an_existing_index_gets_no_index_advice(db: TestDatabase) -> None:
    _make_events(db)
    db.execute("CREATE INDEX events_user_created ON events (user_id, created_at)")
    with db.connect() as conn:
        for user in range(15):
            conn.execute(
                "SELECT count(*) FROM events WHERE user_id = %s AND created_at > now() - %s::interval",
                (user, "3 days"),
            )
    report = analyze_queries(db.target, threshold_ms=0.0).to_dict()
    rec = _find(report, "FROM events WHERE user_id = $1")
    assert [r for r in rec["recommendations"] if r["action"] == "create_index"] == []


@pytest.mark.catalog
def test_an_index_with_the_range_column_first_does_not_count_as_serving_equality_then_range(
    db: TestDatabase,
) -> None:
    _make_events(db)
    db.execute("CREATE INDEX events_created_user ON events (created_at, user_id)")  # range column first
    db.execute("CREATE INDEX events_kind_user ON events (kind, user_id)")  # equalities in another order
    with db.connect() as conn:
        for user in range(15):
            conn.execute(
                "SELECT count(*) FROM events WHERE user_id = %s AND created_at > now() - %s::interval",
                (user, "3 days"),
            )
            conn.execute("SELECT count(*) FROM events WHERE user_id = %s AND kind = %s", (user, "k1"))
    report = analyze_queries(db.target, threshold_ms=0.0).to_dict()
    ranged = _find(report, "created_at > now()")
    index = [r for r in ranged["recommendations"] if r["action"] == "create_index"]
    assert [r["columns"] for r in index] == [["user_id", "created_at"]]
    equal = _find(report, "AND kind = $2")
    assert [
        r for r in equal["recommendations"] if r["action"] == "create_index"
    ] == []  # (kind, user_id) serves


@pytest.mark.catalog
def test_n_plus_one_lookup_is_flagged_and_list_query_is_not(db: TestDatabase) -> None:
    _make_events(db, rows=5_000)
    with db.connect() as conn:
        ids = [row[0] for row in conn.execute("SELECT id FROM events ORDER BY id LIMIT 600").fetchall()]
        for event_id in ids:
            conn.execute("SELECT kind, payload FROM events WHERE id = %s", (event_id,))
    report = analyze_queries(db.target, threshold_ms=1000).to_dict()
    rec = _find(report, "FROM events WHERE id = $1")
    issue = next(i for i in rec["issues"] if i["type"] == "n_plus_one")
    assert "600 calls" in issue["message"]
    assert rec["metrics"]["rowsPerCall"] == 1.0
    assert not [r for r in report["recommendations"] if "ORDER BY id LIMIT" in r["query"]]


@pytest.mark.catalog
def test_a_loop_of_single_row_updates_is_not_called_n_plus_one(db: TestDatabase) -> None:
    _make_events(db, rows=2_000)
    with db.connect() as conn:
        for event_id in range(1, 601):
            conn.execute("UPDATE events SET kind = %s WHERE id = %s", ("seen", event_id))
    report = analyze_queries(db.target, threshold_ms=1000).to_dict()
    assert not [r for r in report["recommendations"] if r["query"].startswith("UPDATE events")]


@pytest.mark.catalog
def test_unstable_plan_from_widely_varying_execution_time(db: TestDatabase) -> None:
    _make_events(db, rows=100)
    with db.connect() as conn:
        for i in range(24):
            conn.execute(
                "SELECT e.id FROM events e, pg_sleep(%s) WHERE e.id = 1", (0.04 if i % 4 == 0 else 0.0,)
            )
    report = analyze_queries(db.target, threshold_ms=1000).to_dict()
    rec = _find(report, "pg_sleep($1)")
    assert [i["type"] for i in rec["issues"]] == ["unstable_plan"]
    assert rec["metrics"]["stddevTime"] > rec["metrics"]["meanTime"]


def _vacuum_advice(report: dict[str, Any], fragment: str) -> list[dict[str, Any]]:
    return [
        advice
        for rec in report["recommendations"]
        if fragment in rec["query"]
        for advice in rec["recommendations"]
        if advice["action"] == "vacuum_analyze"
    ]


@pytest.mark.catalog
def test_stale_statistics_recommend_vacuum_analyze(db: TestDatabase) -> None:
    _make_events(db, rows=20_000)
    with db.connect() as conn:
        conn.execute("ALTER TABLE events SET (autovacuum_enabled = off)")
        conn.execute(
            "INSERT INTO events (user_id, kind, created_at) SELECT 7, 'late', now() FROM generate_series(1, 30000)"
        )
        publish_stats(conn)
        for _ in range(3):
            conn.execute("SELECT count(*) FROM events WHERE kind = %s", ("late",))
    # the 30,000 rows inserted since the last ANALYZE must be visible for the statistics to count as stale
    report = eventually(
        lambda: analyze_queries(db.target, threshold_ms=0.0).to_dict(),
        lambda r: any(
            "rows changed since the last ANALYZE" in advice["description"]
            for advice in _vacuum_advice(r, "FROM events WHERE kind = $1")
        ),
    )
    rec = _find(report, "FROM events WHERE kind = $1")
    vacuum = [r for r in rec["recommendations"] if r["action"] == "vacuum_analyze"]
    assert vacuum and vacuum[0]["table"] == "public.events"
    assert "rows changed since the last ANALYZE" in vacuum[0]["description"]


@pytest.mark.catalog
def test_ddl_and_catalog_queries_are_not_reported(db: TestDatabase) -> None:
    _make_events(db, rows=1000)
    with db.connect() as conn:
        conn.execute("CREATE INDEX events_kind ON events (kind)")
        conn.execute("SELECT count(*) FROM pg_class WHERE relkind = %s", ("r",))
    report = analyze_queries(db.target, threshold_ms=0.0).to_dict()
    texts = " ".join(r["query"] for r in report["recommendations"])
    assert "CREATE INDEX" not in texts and "pg_class" not in texts


@pytest.mark.catalog
def test_deltas_since_snapshot_count_only_new_calls(db: TestDatabase, tmp_path: Path) -> None:
    _make_events(db, rows=2000)
    query = "SELECT count(*) FROM events WHERE user_id = %s"
    with db.connect() as conn:
        for user in range(10):
            conn.execute(query, (user,))
    with HistoryStore(tmp_path / "h.sqlite3") as store:
        with session(db.target) as conn:
            take_snapshot(conn, load_server_facts(conn), store, db.target.key)
        with db.connect() as conn:
            for user in range(4):
                conn.execute(query, (user,))
        report = analyze_queries(db.target, threshold_ms=0.0, store=store).to_dict()
    assert report["window"]["source"] == "delta"
    assert _find(report, "FROM events WHERE user_id = $1")["metrics"]["calls"] == 4


@pytest.mark.catalog
def test_low_cache_hit_is_flagged_when_scans_miss_shared_buffers(
    tiny_buffers_cluster: EmbeddedCluster,
) -> None:
    dsn = tiny_buffers_cluster.dsn()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        conn.execute("CREATE TABLE big (id int, filler text)")
        conn.execute("INSERT INTO big SELECT i, repeat('y', 200) FROM generate_series(1, 20000) i")
        conn.execute("SELECT pg_stat_statements_reset()")
        for _ in range(3):
            conn.execute("SELECT count(*) FROM big WHERE filler <> %s", ("z",))
    report = analyze_queries(resolve_target(dsn), threshold_ms=10_000).to_dict()
    rec = _find(report, "FROM big WHERE filler <> $1")
    issue = next(i for i in rec["issues"] if i["type"] == "low_cache_hit")
    assert rec["metrics"]["cacheHitRatio"] < 90
    assert issue["message"].startswith("Cache hit ratio:")


@pytest.mark.catalog
def test_no_activity_since_the_snapshot_is_told_apart_from_no_statements_at_all(
    db: TestDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _make_events(db, rows=100)
    with db.connect() as conn:
        for user in range(3):
            conn.execute("SELECT count(*) FROM events WHERE user_id = %s", (user,))
    store_path = tmp_path / "h.sqlite3"
    with HistoryStore(store_path) as store:
        with session(db.target) as conn:
            take_snapshot(conn, load_server_facts(conn), store, db.target.key)
        report = analyze_queries(db.target, threshold_ms=0.0, store=store).to_dict()
    assert report["analyzed"] == 0
    [note] = report["notes"]
    assert note.startswith("no statement ran since the snapshot of ")
    assert "(delta window)" in note and "--cumulative" in note
    code = main(["queries", "analyze", "--dsn", db.dsn, "--store", str(store_path)])
    out = capsys.readouterr().out
    assert code == 0
    assert "no statement ran since the snapshot of " in " ".join(out.split())  # the table prints the note
    cumulative = analyze_queries(db.target, threshold_ms=0.0).to_dict()
    assert cumulative["analyzed"] >= 1 and cumulative["notes"] == []


@pytest.mark.catalog
def test_an_empty_pg_stat_statements_says_so_in_every_format(
    db: TestDatabase, capsys: pytest.CaptureFixture[str]
) -> None:
    db.execute("SELECT pg_stat_statements_reset()")
    code = main(["queries", "analyze", "--dsn", db.dsn, "--cumulative", "-f", "markdown"])
    out = capsys.readouterr().out
    assert code == 0
    assert "pg_stat_statements has no statements for this database yet" in out


@pytest.mark.catalog
def test_a_slow_pattern_search_gets_a_trigram_index_and_none_once_one_exists(db: TestDatabase) -> None:
    _make_events(db)
    with db.connect() as conn:
        for word in ("k1", "k3", "k5"):
            conn.execute("SELECT id FROM events WHERE kind ILIKE %s", (f"%{word}%",))
            conn.execute("SELECT id FROM events WHERE payload LIKE %s", (f"{word}%",))  # LIKE $n: ambiguous
    report = analyze_queries(db.target, threshold_ms=0.0).to_dict()
    [search] = [
        r for r in _find(report, "kind ILIKE $1")["recommendations"] if r["action"] == "create_search_index"
    ]
    assert search["columns"] == ["kind"] and search["table"] == "public.events"
    assert search["sql"] == (
        'CREATE EXTENSION IF NOT EXISTS pg_trgm; CREATE INDEX CONCURRENTLY "events_kind_trgm_idx" ON '
        '"public"."events" USING gin ("kind" gin_trgm_ops);'
    )
    assert "create_search_index" not in [
        r["action"] for r in _find(report, "payload LIKE $1")["recommendations"]
    ]
    db.execute(
        "CREATE EXTENSION pg_trgm; CREATE INDEX events_kind_gist ON events USING gist (kind gist_trgm_ops)"
    )
    report = analyze_queries(db.target, threshold_ms=0.0).to_dict()
    assert "create_search_index" not in [
        r["action"] for r in _find(report, "kind ILIKE $1")["recommendations"]
    ]


@pytest.mark.catalog
def test_an_index_advised_on_a_partitioned_table_is_sql_postgresql_runs_without_blocking_writes(
    db: TestDatabase,
) -> None:
    db.execute(
        "CREATE TABLE log (user_id int NOT NULL, kind text NOT NULL, at date NOT NULL) PARTITION BY RANGE (at);"
        "CREATE TABLE log_2025 PARTITION OF log FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');"
        "CREATE TABLE log_2026 PARTITION OF log FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');"
        "INSERT INTO log SELECT g % 500, 'k' || g % 7, date '2025-01-01' + g % 700"
        "  FROM generate_series(1, 60000) g;"
        "CREATE INDEX own_user_at ON log_2026 (user_id, at);"  # 2026's own: attached, not built twice
        "ANALYZE log;"
        "SELECT pg_stat_statements_reset()"
    )
    with db.connect() as conn:
        for user in range(5):
            conn.execute("SELECT count(*) FROM log WHERE user_id = %s AND at > %s", (user, "2025-06-01"))
            conn.execute("SELECT count(*) FROM log WHERE kind ILIKE %s", (f"%k{user}%",))
    report = analyze_queries(db.target, threshold_ms=0.0).to_dict()
    [index] = [
        r for r in _find(report, "WHERE user_id = $1")["recommendations"] if r["action"] == "create_index"
    ]
    assert index["sql"].splitlines() == [
        'CREATE INDEX IF NOT EXISTS "log_user_id_at_idx" ON ONLY "public"."log" USING btree ("user_id", "at");',
        'CREATE INDEX CONCURRENTLY IF NOT EXISTS "log_2025_user_id_at_idx" ON "public"."log_2025" USING btree '
        '("user_id", "at");',
        'ALTER INDEX "public"."log_user_id_at_idx" ATTACH PARTITION "public"."log_2025_user_id_at_idx";',
        'ALTER INDEX "public"."log_user_id_at_idx" ATTACH PARTITION "public"."own_user_at";',
    ]
    [search] = [
        r for r in _find(report, "kind ILIKE $1")["recommendations"] if r["action"] == "create_search_index"
    ]
    assert "CONCURRENTLY" not in search["sql"].splitlines()[0]  # the table's ON ONLY
    for statement in [*index["sql"].splitlines(), *search["sql"].replace("; ", ";\n", 1).splitlines()]:
        db.execute(statement)  # as psql runs them: one at a time, CONCURRENTLY outside a transaction
    with db.connect() as conn:
        valid = conn.execute(
            "SELECT c.relname, i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
            " WHERE i.indrelid = 'log'::regclass ORDER BY 1"
        )
        assert valid.fetchall() == [("log_kind_trgm_idx", True), ("log_user_id_at_idx", True)]


@pytest.mark.catalog
def test_a_query_of_a_table_with_inheritance_children_gets_the_index_on_each_child_lacking_it(
    db: TestDatabase,
) -> None:
    """The parent of legacy (inheritance) partitioning holds no rows: before, its slow query got no index
    hint at all. Now the hint counts its children's rows, and its SQL builds the index on the table and on
    each child that has no index serving the key (readings_2025 has one already)."""
    db.execute(READINGS_SQL + "CREATE INDEX readings_2025_by_device ON readings_2025 (device, at);")
    db.execute("SELECT pg_stat_statements_reset()")
    with db.connect() as conn:
        for device in range(5):
            conn.execute(
                "SELECT avg(v) FROM readings WHERE device = %s AND at >= now() - interval '1 day'", (device,)
            )
    report = analyze_queries(db.target, threshold_ms=0.0).to_dict()
    rec = _find(report, "FROM readings WHERE device = $1")
    [index] = [r for r in rec["recommendations"] if r["action"] == "create_index"]
    assert index["columns"] == ["device", "at"] and "inheritance children" in index["description"]
    assert index["sql"].splitlines() == [
        'CREATE INDEX CONCURRENTLY IF NOT EXISTS "readings_device_at_idx" ON "public"."readings" USING btree '
        '("device", "at");',
        'CREATE INDEX CONCURRENTLY IF NOT EXISTS "readings_2026_device_at_idx" ON "public"."readings_2026" '
        'USING btree ("device", "at");',
    ]
