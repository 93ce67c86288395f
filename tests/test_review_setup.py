"""Review of `setup pg-stat-statements` and the server facts against real servers (spellings, settings, schemas)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import conninfo

from pgdba.cli import main
from pgdba.embedded import EmbeddedCluster
from pgdba.pool.server_limits import server_limits
from pgdba.server import load_server_facts
from pgdba.setup import apply_pg_stat_statements_setup, pg_stat_statements_status
from pgdba.stats.statements import hidden_statements, statement_stats
from pgdba.target import Target, resolve_target, session
from tests.clusters import own_cluster
from tests.conftest import TestDatabase


@pytest.fixture
def throwaway_cluster() -> Iterator[EmbeddedCluster]:
    """A cluster of our own (the suite's is never restarted or reconfigured)."""
    with own_cluster("review-setup") as cluster:
        yield cluster


def _preload(cluster: EmbeddedCluster, value: str) -> None:
    with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
        conn.execute(f"ALTER SYSTEM SET shared_preload_libraries = {value}")
    cluster.restart()


def test_a_libdir_spelling_of_the_preloaded_library_counts_as_preloaded(
    throwaway_cluster: EmbeddedCluster,
) -> None:
    _preload(throwaway_cluster, "'$libdir/pg_stat_statements', 'auto_explain'")
    with psycopg.connect(throwaway_cluster.dsn(), autocommit=True) as conn:
        assert conn.execute("SHOW shared_preload_libraries").fetchone() == (
            '"$libdir/pg_stat_statements", auto_explain',
        )
        conn.execute("CREATE EXTENSION pg_stat_statements")
    target = resolve_target(throwaway_cluster.dsn(), {})

    status = pg_stat_statements_status(target)

    assert status.ready and status.steps == []
    with session(target) as conn:
        assert statement_stats(conn, load_server_facts(conn))  # the query features work on it


def test_apply_keeps_a_libdir_entry_and_appends_the_library_once(
    throwaway_cluster: EmbeddedCluster,
) -> None:
    _preload(throwaway_cluster, "'$libdir/auto_explain.so', 'pg_prewarm'")
    target = resolve_target(throwaway_cluster.dsn(), {})

    status = apply_pg_stat_statements_setup(target, restart=throwaway_cluster.restart)

    assert status.ready, status.steps
    with psycopg.connect(throwaway_cluster.dsn()) as conn:
        shown = conn.execute("SHOW shared_preload_libraries").fetchone()
    assert shown == ('"$libdir/auto_explain.so", pg_prewarm, pg_stat_statements',)
    # a second run finds nothing to do: the library is not appended again
    again = apply_pg_stat_statements_setup(target, restart=throwaway_cluster.restart)
    assert again.applied == [] and not again.restarted


@pytest.mark.pg(">= 14")
def test_compute_query_id_off_is_found_because_nothing_is_recorded(db: TestDatabase) -> None:
    target = Target(db.dsn, extra_settings={"compute_query_id": "off"})
    with psycopg.connect(db.dsn, autocommit=True, options="-c compute_query_id=off") as conn:
        conn.execute("SELECT pg_stat_statements_reset()")
        conn.execute("SELECT 'review-marker-' || 42")
        recorded = conn.execute(
            "SELECT count(*) FROM pg_stat_statements WHERE query LIKE '%review-marker%'"
        ).fetchone()
    assert recorded == (0,)  # the server really records nothing with it off

    status = pg_stat_statements_status(target)

    assert [s.code for s in status.steps] == ["query_id_off"]
    assert status.steps[0].sql == "ALTER SYSTEM SET compute_query_id = 'auto'; SELECT pg_reload_conf();"
    assert status.steps[0].can_apply
    assert pg_stat_statements_status(Target(db.dsn, extra_settings={"compute_query_id": "auto"})).ready


@pytest.fixture
def statements_in_own_schema(db: TestDatabase) -> TestDatabase:
    db.execute("DROP EXTENSION pg_stat_statements")
    db.execute('CREATE SCHEMA "Monitoring"')
    db.execute('CREATE EXTENSION pg_stat_statements SCHEMA "Monitoring"')
    return db


@pytest.mark.catalog
def test_the_extension_off_the_search_path_is_read_by_its_schema(
    statements_in_own_schema: TestDatabase, capsys: pytest.CaptureFixture[str]
) -> None:
    """pg_stat_statements in schema "Monitoring", and a DSN that sets its own search_path (the application's
    `options=-c search_path=app`, which no ALTER ROLE overrides): pgdba names the view and its functions by
    their schema, so setup has nothing to change and the query features read the workload."""
    db = statements_in_own_schema
    db.execute(
        "CREATE SCHEMA app; CREATE TABLE app.lesson (id int PRIMARY KEY, course_id int NOT NULL);"
        "INSERT INTO app.lesson SELECT g, g % 300 FROM generate_series(1, 60000) g; ANALYZE app.lesson"
    )
    dsn = conninfo.make_conninfo(db.dsn, options="-c search_path=app")
    with psycopg.connect(dsn, autocommit=True) as conn:  # the application, on its search_path
        conn.execute('SELECT "Monitoring".pg_stat_statements_reset()')
        for course in range(30):
            conn.execute("SELECT count(*) FROM lesson WHERE course_id = %s", (course,))
    target = Target(dsn)

    status = pg_stat_statements_status(target)

    assert status.ready and status.steps == []
    with session(target) as conn:
        assert conn.execute("SHOW search_path").fetchone() == ("app",)  # the DSN's, untouched
        facts = load_server_facts(conn)
        assert facts.pg_stat_statements_ready
        [lookup] = [s for s in statement_stats(conn, facts) if "FROM lesson" in s.query]
        assert lookup.calls == 30
        assert hidden_statements(conn, facts) is None
        assert (facts.statements_reset is not None) == (facts.major >= 14)  # pg_stat_statements_info
        limits = server_limits(conn, facts)
        assert limits.mean_call_ms is not None and limits.calls >= 30
    assert main(["advise", "indexes", "--dsn", dsn, "--min-calls", "2", "--format", "json"]) == 0
    advice = json.loads(capsys.readouterr().out)
    assert [(i["schema"], i["table"], i["columns"]) for i in advice["indexes"]] == [
        ("app", "lesson", ["course_id"])
    ]


def test_a_schema_the_role_may_not_use_gets_a_grant_not_a_search_path_change(
    statements_in_own_schema: TestDatabase,
) -> None:
    db = statements_in_own_schema
    role = f"watcher_{db.name}"
    db.execute(
        f"CREATE ROLE \"{role}\" LOGIN PASSWORD 'watch-pw' IN ROLE pg_read_all_stats, pg_read_all_settings"
    )
    # the schema is on its search_path already; only USAGE is missing (current_schemas() hides it then)
    db.execute(f'ALTER ROLE "{role}" IN DATABASE "{db.name}" SET search_path = "$user", public, "Monitoring"')
    params = db.target.params()
    watcher = resolve_target(
        f"host={params['host']} port={params['port']} dbname={db.name} user={role} password=watch-pw"
    )
    try:
        status = pg_stat_statements_status(watcher)
        assert [(s.code, s.sql) for s in status.steps] == [
            ("extension_schema_not_usable", f'GRANT USAGE ON SCHEMA "Monitoring" TO "{role}";')
        ]
        db.execute(f'GRANT USAGE ON SCHEMA "Monitoring" TO "{role}"')
        assert pg_stat_statements_status(watcher).ready
    finally:
        db.execute(f'DROP OWNED BY "{role}"')
        db.execute(f'DROP ROLE "{role}"')
