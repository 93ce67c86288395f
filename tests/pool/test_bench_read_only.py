"""`pgdba pool bench` without --apply never writes: the workload's statements are refused unless they are
plain reads calling no user-defined VOLATILE function, and every request runs in a READ ONLY transaction
pgdba opens, so a writing function the checks cannot see (behind a view, or declared STABLE) fails."""

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


USER_FUNCTIONS = (
    "CREATE SCHEMA app;"
    "CREATE TABLE app.counter (n int NOT NULL); INSERT INTO app.counter VALUES (0);"
    "CREATE FUNCTION app.bump_counter() RETURNS int LANGUAGE plpgsql AS $$ "
    "BEGIN UPDATE app.counter SET n = n + 1; RETURN 1; END $$;"
    "CREATE FUNCTION app.new_object() RETURNS oid LANGUAGE sql AS 'SELECT lo_create(0)';"
    "CREATE FUNCTION take_lock() RETURNS int LANGUAGE plpgsql AS $$ "
    "BEGIN PERFORM pg_advisory_lock(42); RETURN 1; END $$;"
    "CREATE SEQUENCE app.ticket;"
    "CREATE FUNCTION app.stable_ticket() RETURNS bigint STABLE LANGUAGE sql AS $$ SELECT nextval('app.ticket') $$;"
    "CREATE FUNCTION app.row_count() RETURNS bigint STABLE LANGUAGE sql AS 'SELECT count(*) FROM public.u';"
    # a VOLATILE namesake of a built-in, in a schema off the search path: lower() is still pg_catalog's
    "CREATE FUNCTION app.lower(text) RETURNS text LANGUAGE sql AS 'SELECT lo_create(0)::text'"
)


@pytest.mark.parametrize(
    ("sql", "function"),
    [
        ("SELECT app.bump_counter()", "app.bump_counter"),  # an UPDATE READ ONLY would refuse at run time
        ("SELECT * FROM app.new_object()", "app.new_object"),  # a large object READ ONLY lets through
        ("SELECT take_lock()", "public.take_lock"),  # a session lock, found on the search path
        ("SELECT count(*) FROM u WHERE id > app.bump_counter()", "app.bump_counter"),
        ('SELECT "app"."bump_counter"()', "app.bump_counter"),
    ],
)
def test_a_user_defined_volatile_function_is_refused_naming_it(
    rows_db: TestDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str], sql: str, function: str
) -> None:
    rows_db.execute(USER_FUNCTIONS)
    assert bench(rows_db, tmp_path, f"SELECT 1;\n{sql};\n") == 2
    err = capsys.readouterr().err
    assert err.startswith(f"pgdba: error: w.sql: statement 2 calls {function}() (a user-defined VOLATILE")
    assert "pass --apply" in err and err.count("\n") == 1 and "Traceback" not in err


def test_a_refused_user_function_changes_nothing_and_runs_with_apply(
    rows_db: TestDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows_db.execute(USER_FUNCTIONS)
    objects = "SELECT count(*) FROM pg_largeobject_metadata"
    assert bench(rows_db, tmp_path, "SELECT app.new_object();") == 2
    with rows_db.connect() as conn:
        assert conn.execute(objects).fetchone() == (0,)
    assert bench(rows_db, tmp_path, "SELECT app.new_object();", "--apply", "--format", "json") == 0
    with rows_db.connect() as conn:
        assert conn.execute(objects).fetchone() == (20,)


def test_stable_user_functions_and_namesakes_off_the_search_path_still_benchmark(
    rows_db: TestDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows_db.execute(USER_FUNCTIONS)
    sql = "SELECT app.row_count();\nSELECT lower(note) FROM u;\n"
    assert bench(rows_db, tmp_path, sql, "--format", "json") == 0
    [result] = json.loads(capsys.readouterr().out)["results"]
    assert result["ok"] == 20 and result["read_only_refusals"] == 0, result["error_samples"]
    with rows_db.connect() as conn:
        assert conn.execute("SELECT count(*) FROM pg_largeobject_metadata").fetchone() == (0,)


def test_a_stable_function_that_takes_a_sequence_value_is_refused_by_the_server_and_said_so(
    rows_db: TestDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows_db.execute(USER_FUNCTIONS)
    assert bench(rows_db, tmp_path, "SELECT app.stable_ticket();", "--format", "json") == 1
    report = json.loads(capsys.readouterr().out)
    [result] = report["results"]
    assert result["ok"] == 0 and result["errors"] == 20 and result["read_only_refusals"] == 20
    assert result["error_samples"] == [
        "ReadOnlySqlTransaction: cannot execute nextval() in a read-only transaction"
    ]
    assert report["recommended_pool_size"] is None
    assert report["recommendation"].endswith(
        "20 requests wrote and the server refused them in a READ ONLY transaction: pass --apply to run a "
        "workload that may write"
    )
    with rows_db.connect() as conn:  # the sequence never advanced
        assert conn.execute("SELECT last_value, is_called FROM app.ticket").fetchone() == (1, False)


def test_a_write_behind_a_view_fails_read_only_the_user_is_told_and_nothing_is_written(
    rows_db: TestDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # a view hides the function from the checks: the READ ONLY transaction is what stops its INSERT
    rows_db.execute(
        "CREATE FUNCTION log_visit() RETURNS int VOLATILE LANGUAGE plpgsql AS $$ "
        "BEGIN INSERT INTO u (note) VALUES ('visit'); RETURN 1; END $$;"
        "CREATE VIEW visits AS SELECT log_visit() AS logged"
    )
    assert bench(rows_db, tmp_path, "SELECT * FROM visits;") == 1  # no size qualifies
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert "  2: ReadOnlySqlTransaction: cannot execute INSERT in a read-only transaction" in lines
    assert lines[-1] == (
        "no pool size served every request without errors or timeouts at its full size: no recommendation; "
        "20 requests wrote and the server refused them in a READ ONLY transaction: pass --apply to run a "
        "workload that may write"
    )
    assert "Traceback" not in captured.err
    assert row_count(rows_db) == 10


def test_a_function_that_switches_the_session_default_off_still_cannot_write(
    rows_db: TestDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the first call turns the session's read-only default off (and commits), later calls would write; the
    # view hides the VOLATILE function from the check that refuses calling one
    rows_db.execute(
        "CREATE FUNCTION sneaky() RETURNS int VOLATILE LANGUAGE plpgsql AS $$ BEGIN "
        "IF current_setting('transaction_read_only') = 'on' THEN "
        "PERFORM set_config('default_transaction_read_only', 'off', false); RETURN 0; END IF; "
        "DELETE FROM u WHERE id = (SELECT min(id) FROM u); RETURN 1; END $$;"
        "CREATE VIEW sneaky_view AS SELECT sneaky() AS deleted"
    )
    assert bench(rows_db, tmp_path, "SELECT * FROM sneaky_view;", "--format", "json") == 0
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
