"""`pgdba pool bench` without --apply never writes: the workload's statements are refused unless they are
plain reads, and every request runs in a READ ONLY transaction pgdba opens, so a writing function fails."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pgdba.cli import main
from pgdba.errors import InputError
from pgdba.pool import LoadTestConfig, surge_load_test
from pgdba.pool.workload import StatementWorkload
from tests.conftest import TestDatabase

SMALL_RUN = ["--clients", "2", "--requests", "20", "--pool-sizes", "2"]


@pytest.fixture
def rows_db(db: TestDatabase) -> TestDatabase:
    """A table of ten rows, the target a writing workload would change."""
    db.execute("CREATE TABLE u (id serial PRIMARY KEY, note text)")
    db.execute("INSERT INTO u (note) SELECT 'row ' || g FROM generate_series(1, 10) AS g")
    return db


def row_count(db: TestDatabase, table: str = "u") -> int:
    with db.connect() as conn:
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
    assert row is not None
    return int(row[0])


def bench(db: TestDatabase, tmp_path: Path, sql: str, *extra: str) -> int:
    query = tmp_path / "w.sql"
    query.write_text(sql)
    return main(["pool", "bench", "--dsn", db.dsn, "--query", str(query), *SMALL_RUN, *extra])


def test_the_audit_reproduction_is_refused_and_deletes_nothing(
    rows_db: TestDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sql = "SET default_transaction_read_only = off;\nDELETE FROM u WHERE id = (SELECT min(id) FROM u);\n"
    assert bench(rows_db, tmp_path, sql) == 2
    err = capsys.readouterr().err
    assert err.startswith("pgdba: error: w.sql: statement 1 is SET,") and err.count("\n") == 1
    assert "--apply" in err and "Traceback" not in err
    assert row_count(rows_db) == 10


def test_set_config_in_a_select_is_refused(
    rows_db: TestDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sql = (
        "SELECT set_config('default_transaction_read_only', 'off', false);\n"
        "DELETE FROM u WHERE id = (SELECT min(id) FROM u);\n"
    )
    assert bench(rows_db, tmp_path, sql) == 2
    err = capsys.readouterr().err
    assert "statement 1 calls set_config()" in err and "--apply" in err and err.count("\n") == 1
    assert row_count(rows_db) == 10


@pytest.mark.parametrize(
    ("statement", "named"),
    [
        ("RESET ALL", "is RESET"),
        ("RESET default_transaction_read_only", "is RESET"),
        ("SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE", "is SET SESSION CHARACTERISTICS"),
        ("SET TRANSACTION READ WRITE", "is SET TRANSACTION"),
        ("BEGIN READ WRITE", "is BEGIN"),
        ("START TRANSACTION READ WRITE", "is START TRANSACTION"),
        ("COMMIT", "is COMMIT"),
        ("DO $$ BEGIN DELETE FROM u; END $$", "is DO"),
        ("CALL purge()", "is CALL"),
        ("COPY u FROM STDIN", "is COPY"),
        ("INSERT INTO u (note) VALUES ('x')", "is INSERT"),
        ("UPDATE u SET note = 'x'", "is UPDATE"),
        ("DELETE FROM u", "is DELETE"),
        ("MERGE INTO u USING u AS v ON u.id = v.id WHEN MATCHED THEN DELETE", "is MERGE"),
        ("TRUNCATE u", "is TRUNCATE"),
        ("CREATE TABLE v (id int)", "is CREATE TABLE"),
        ("CREATE TABLE v AS SELECT * FROM u", "is CREATE TABLE AS"),
        ("DROP TABLE u", "is DROP"),
        ("LOCK TABLE u", "is LOCK"),
        ("VACUUM u", "is VACUUM"),
        ("ANALYZE u", "is ANALYZE"),
        ("PREPARE p AS DELETE FROM u", "is PREPARE"),
        ("EXECUTE p", "is EXECUTE"),
        ("SHOW search_path", "is SHOW"),
        ("WITH gone AS (DELETE FROM u RETURNING id) SELECT count(*) FROM gone", "has a data-modifying WITH"),
        (
            "SELECT * FROM (WITH d AS (UPDATE u SET note = 'x' RETURNING id) SELECT 1) AS s",
            "has a data-modifying WITH",
        ),
        ("SELECT * INTO v FROM u", "is SELECT … INTO"),
        ("SELECT * FROM u FOR UPDATE", "locks rows"),
        ("SELECT 1 UNION (SELECT id FROM u FOR SHARE)", "locks rows"),
        ("SELECT set_config('transaction_read_only', 'off', true)", "calls set_config()"),
        (
            "SELECT * FROM pg_catalog.set_config('default_transaction_read_only', 'off', false)",
            "calls set_config()",
        ),
        ("SELECT 1 WHERE set_config('a.b', 'c', false) IS NOT NULL", "calls set_config()"),
        ("SELECT dblink_exec('dbname=x', 'DELETE FROM u')", "calls dblink_exec()"),
        ("EXPLAIN ANALYZE DELETE FROM u", "is EXPLAIN of DELETE"),
        ("EXPLAIN ANALYZE SELECT set_config('a.b', 'c', false)", "calls set_config()"),
    ],
)
def test_every_route_out_of_read_only_is_refused_before_anything_runs(
    rows_db: TestDatabase, statement: str, named: str
) -> None:
    workload = StatementWorkload(("SELECT 1", statement), name="routes.sql")
    with pytest.raises(InputError, match="pass --apply") as refused:
        surge_load_test(rows_db.target, workload, LoadTestConfig(pool_sizes=(1,), clients=1, requests=4))
    assert f"routes.sql: statement 2 {named}" in str(refused.value)
    assert "\n" not in str(refused.value)
    assert row_count(rows_db) == 10


# one call per family of functions whose effects a READ ONLY transaction does not stop (PostgreSQL 15 runs
# all of these there but nextval)
LASTING_EFFECT_CALLS = [
    ("SELECT lo_unlink(min(oid)) FROM pg_largeobject_metadata", "lo_unlink"),
    ("SELECT lo_create(0)", "lo_create"),
    (
        "SELECT pg_create_physical_replication_slot('audit2_slot', true)",
        "pg_create_physical_replication_slot",
    ),
    ("SELECT pg_replication_origin_create('audit2_origin')", "pg_replication_origin_create"),
    ("SELECT pg_logical_slot_get_changes('s', NULL, NULL)", "pg_logical_slot_get_changes"),
    ("SELECT pg_stat_statements_reset()", "pg_stat_statements_reset"),
    ("SELECT pg_stat_reset()", "pg_stat_reset"),
    ("SELECT pg_stat_reset_shared('bgwriter')", "pg_stat_reset_shared"),
    ("SELECT hypopg_reset()", "hypopg_reset"),
    ("SELECT * FROM hypopg_create_index('CREATE INDEX ON u (note)')", "hypopg_create_index"),
    ("SELECT pg_terminate_backend(1)", "pg_terminate_backend"),
    ("SELECT pg_cancel_backend(1)", "pg_cancel_backend"),
    ("SELECT pg_switch_wal()", "pg_switch_wal"),
    ("SELECT pg_reload_conf()", "pg_reload_conf"),
    ("SELECT pg_logical_emit_message(false, 'p', 'x')", "pg_logical_emit_message"),
    ("SELECT pg_notify('audit', 'x')", "pg_notify"),
    ("SELECT pg_advisory_lock(1)", "pg_advisory_lock"),
    ("SELECT pg_try_advisory_xact_lock(1)", "pg_try_advisory_xact_lock"),
    ("SELECT nextval('u_id_seq')", "nextval"),
    ("SELECT txid_current()", "txid_current"),
    ("SELECT pg_file_write('x', 'y', false)", "pg_file_write"),
    ("SELECT pg_import_system_collations('public')", "pg_import_system_collations"),
    ("SELECT brin_summarize_new_values('u_pkey')", "brin_summarize_new_values"),
    ("SELECT query_to_xml('SELECT lo_create(0)', true, false, '')", "query_to_xml"),
    ("SELECT ts_stat('SELECT to_tsvector(lo_create(0)::text)')", "ts_stat"),
    ("SELECT dblink_exec('dbname=x', 'DELETE FROM u')", "dblink_exec"),
    ("SELECT set_config('transaction_read_only', 'off', true)", "set_config"),
]
# the same calls where other syntax hides them
HIDDEN_CALLS = [
    ("SELECT * FROM lo_create(0)", "lo_create"),
    ("SELECT * FROM ROWS FROM (lo_create(0)) AS r", "lo_create"),
    ("SELECT * FROM u, LATERAL lo_create(u.id) AS l", "lo_create"),
    ("SELECT (pg_cancel_backend(1))", "pg_cancel_backend"),
    ("SELECT (SELECT lo_create(0))", "lo_create"),
    ("SELECT count(*) FROM u WHERE id IN (SELECT pg_terminate_backend(id)::int)", "pg_terminate_backend"),
    ("WITH c AS (SELECT lo_create(0)) SELECT * FROM c", "lo_create"),
    ("VALUES (1), (lo_create(0))", "lo_create"),
    ("SELECT id FROM u ORDER BY pg_advisory_lock(id)", "pg_advisory_lock"),
    ("SELECT count(*) FILTER (WHERE pg_notify('c', note) IS NULL) FROM u", "pg_notify"),
    ("EXPLAIN SELECT lo_create(0)", "lo_create"),
    ("EXPLAIN ANALYZE SELECT pg_stat_reset()", "pg_stat_reset"),
    ("SELECT pg_catalog.lo_create(0)", "lo_create"),
    ("SELECT public.pg_stat_statements_reset()", "pg_stat_statements_reset"),
    ("SELECT LO_CREATE(0)", "lo_create"),  # PostgreSQL folds the unquoted name
    ('SELECT "lo_create"(0)', "lo_create"),
]


@pytest.mark.parametrize(("sql", "function"), LASTING_EFFECT_CALLS + HIDDEN_CALLS)
def test_a_function_with_effects_outside_the_transaction_is_refused(
    rows_db: TestDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str], sql: str, function: str
) -> None:
    assert bench(rows_db, tmp_path, f"SELECT 1;\n{sql};\n") == 2
    err = capsys.readouterr().err
    assert err.startswith(f"pgdba: error: w.sql: statement 2 calls {function}() (") and err.count("\n") == 1
    assert "pass --apply" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("sql", "server_state", "before"),
    [
        ("SELECT lo_create(0)", "SELECT count(*) FROM pg_largeobject_metadata", 0),
        (
            "SELECT pg_create_physical_replication_slot('pool_bench_slot')",
            "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'pool_bench_slot'",
            0,
        ),
        (
            "SELECT pg_stat_statements_reset()",
            "SELECT count(*) FROM pg_stat_statements JOIN pg_database AS d ON d.oid = dbid "
            "WHERE query = 'SELECT $1 AS pool_bench_marker' AND d.datname = current_database()",
            1,
        ),
    ],
)
def test_a_refused_function_changes_nothing_on_the_server(
    rows_db: TestDatabase, tmp_path: Path, sql: str, server_state: str, before: int
) -> None:
    with rows_db.connect() as conn:
        conn.execute("SELECT 1 AS pool_bench_marker")
        assert conn.execute(server_state).fetchone() == (before,)
    assert bench(rows_db, tmp_path, f"{sql};", "--clients", "1", "--requests", "1", "--pool-sizes", "1") == 2
    with rows_db.connect() as conn:
        assert conn.execute(server_state).fetchone() == (before,)


def test_plain_reads_still_benchmark(
    rows_db: TestDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sql = """
        SELECT count(*) FROM u;
        VALUES (1), (2);
        TABLE u;
        WITH recent AS (SELECT id FROM u ORDER BY id DESC LIMIT 3) SELECT * FROM recent;
        EXPLAIN SELECT * FROM u WHERE id = 1;
        EXPLAIN (ANALYZE, COSTS OFF) SELECT count(*) FROM u;
        SELECT current_setting('transaction_read_only');
        SELECT pg_stat_clear_snapshot(), lower('LO_X'), currval IS NULL FROM (VALUES (1)) AS t (currval);
    """
    assert bench(rows_db, tmp_path, sql, "--requests", "80", "--format", "json") == 0
    [result] = json.loads(capsys.readouterr().out)["results"]
    assert result["ok"] == 80 and result["failed"] == 0, result["error_samples"]


def test_a_volatile_function_that_inserts_fails_read_only_and_writes_nothing(
    rows_db: TestDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows_db.execute(
        "CREATE FUNCTION log_visit() RETURNS int VOLATILE LANGUAGE plpgsql AS $$ "
        "BEGIN INSERT INTO u (note) VALUES ('visit'); RETURN 1; END $$"
    )
    assert bench(rows_db, tmp_path, "SELECT log_visit();", "--format", "json") == 1  # no size qualifies
    captured = capsys.readouterr()
    [result] = json.loads(captured.out)["results"]
    assert result["ok"] == 0 and result["errors"] == 20
    assert result["error_samples"] == [
        "ReadOnlySqlTransaction: cannot execute INSERT in a read-only transaction"
    ]
    assert "Traceback" not in captured.err
    assert row_count(rows_db) == 10


def test_a_function_that_switches_the_session_default_off_still_cannot_write(
    rows_db: TestDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the first call turns the session's read-only default off (and commits), later calls would write
    rows_db.execute(
        "CREATE FUNCTION sneaky() RETURNS int VOLATILE LANGUAGE plpgsql AS $$ BEGIN "
        "IF current_setting('transaction_read_only') = 'on' THEN "
        "PERFORM set_config('default_transaction_read_only', 'off', false); RETURN 0; END IF; "
        "DELETE FROM u WHERE id = (SELECT min(id) FROM u); RETURN 1; END $$"
    )
    assert bench(rows_db, tmp_path, "SELECT sneaky();", "--format", "json") == 0
    [result] = json.loads(capsys.readouterr().out)["results"]
    assert result["ok"] == 20
    assert row_count(rows_db) == 10


def test_statements_the_server_splits_differently_from_pglast_are_not_run_as_several(
    rows_db: TestDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # with standard_conforming_strings off the server ends the string at \' where pglast does not: it
    # would see a SELECT, then a COMMIT of pgdba's READ ONLY transaction, then a read-write DELETE
    rows_db.execute(f'ALTER DATABASE "{rows_db.name}" SET standard_conforming_strings = off')
    sql = "SELECT 'a\\''; COMMIT; SET TRANSACTION READ WRITE; DELETE FROM u; --';\n"
    assert bench(rows_db, tmp_path, sql, "--format", "json") == 1
    [result] = json.loads(capsys.readouterr().out)["results"]
    assert result["ok"] == 0 and result["errors"] == 20
    assert any("multiple commands" in sample for sample in result["error_samples"])
    assert row_count(rows_db) == 10


def test_with_apply_a_writing_workload_runs(
    rows_db: TestDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sql = "SET work_mem = '8MB';\nINSERT INTO u (note) VALUES ('visit');\n"
    assert bench(rows_db, tmp_path, sql, "--apply", "--format", "json") == 0
    [result] = json.loads(capsys.readouterr().out)["results"]
    assert result["ok"] == 20 and result["failed"] == 0
    assert row_count(rows_db) == 20
