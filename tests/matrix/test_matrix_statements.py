"""pg_stat_statements on every major: pgdba's column names exist, and a provoked workload is found through them."""

from __future__ import annotations

from dataclasses import fields

import psycopg
import pytest
from psycopg import sql

from pgdba.server import load_server_facts, statement_columns
from pgdba.stats.statements import StatementStats, statement_stats
from tests.conftest import TestDatabase

pytestmark = pytest.mark.catalog

COLUMNS_SQL = """
SELECT a.attname
  FROM pg_attribute AS a
 WHERE a.attrelid = 'pg_stat_statements'::regclass
   AND a.attnum > 0
   AND NOT a.attisdropped
"""


def _view_columns(db: TestDatabase) -> set[str]:
    with db.connect() as conn:
        return {row[0] for row in conn.execute(COLUMNS_SQL).fetchall()}


def _named_columns(version_num: int) -> list[str]:
    cols = statement_columns(version_num)
    return [getattr(cols, f.name) for f in fields(cols) if isinstance(getattr(cols, f.name), str)]


def test_every_column_name_pgdba_uses_exists_on_the_server(db: TestDatabase) -> None:
    with db.connect() as conn:
        version_num = conn.info.server_version
        names = _named_columns(version_num)
        # selecting them proves more than the catalog listing: the view accepts exactly these names
        query = sql.SQL("SELECT {} FROM pg_stat_statements LIMIT 1").format(
            sql.SQL(", ").join(sql.Identifier(n) for n in names)
        )
        conn.execute(query)
    assert set(names) <= _view_columns(db)
    assert len(names) == 7


def test_toplevel_and_stats_since_flags_match_the_view(db: TestDatabase) -> None:
    with db.connect() as conn:
        cols = statement_columns(conn.info.server_version)
    view = _view_columns(db)
    assert cols.has_toplevel == ("toplevel" in view)
    assert cols.has_stats_since == ("stats_since" in view)


@pytest.mark.pg(">= 17")
def test_block_time_columns_carry_the_17_names(db: TestDatabase) -> None:
    with db.connect() as conn:
        cols = statement_columns(conn.info.server_version)
    view = _view_columns(db)
    assert (cols.blk_read_time, cols.blk_write_time) == ("shared_blk_read_time", "shared_blk_write_time")
    assert "blk_read_time" not in view


@pytest.mark.pg("< 17")
def test_block_time_columns_carry_the_pre_17_names(db: TestDatabase) -> None:
    with db.connect() as conn:
        cols = statement_columns(conn.info.server_version)
    view = _view_columns(db)
    assert (cols.blk_read_time, cols.blk_write_time) == ("blk_read_time", "blk_write_time")
    assert "shared_blk_read_time" not in view


def _statements(db: TestDatabase) -> list[StatementStats]:
    with db.target.connect() as conn:
        facts = load_server_facts(conn)
        return statement_stats(conn, facts)


def _matching(statements: list[StatementStats], fragment: str) -> list[StatementStats]:
    return [s for s in statements if fragment in s.query]


def test_a_statement_run_n_times_is_found_with_n_calls_and_its_time(db: TestDatabase) -> None:
    db.execute("CREATE TABLE matrix_items (id int PRIMARY KEY, price numeric NOT NULL)")
    db.execute("INSERT INTO matrix_items SELECT g, g * 1.5 FROM generate_series(1, 500) AS g")
    with db.connect() as conn:
        for item_id in range(1, 8):
            conn.execute("SELECT price FROM matrix_items WHERE id = %s", (item_id,))
    found = _matching(_statements(db), "FROM matrix_items WHERE id =")
    assert len(found) == 1, [s.query for s in found]
    stmt = found[0]
    assert stmt.query == "SELECT price FROM matrix_items WHERE id = $1"
    assert stmt.calls == 7
    assert stmt.rows == 7
    assert stmt.toplevel
    assert stmt.total_ms > 0
    assert stmt.min_ms <= stmt.mean_ms <= stmt.max_ms
    assert stmt.mean_ms == pytest.approx(stmt.total_ms / 7)
    assert stmt.shared_blks_hit + stmt.shared_blks_read >= 7
    assert stmt.blk_read_ms >= 0


def test_time_columns_carry_the_time_the_server_spent(db: TestDatabase) -> None:
    with db.connect() as conn:
        for _ in range(3):
            conn.execute("SELECT pg_sleep(0.02)")
    (stmt,) = _matching(_statements(db), "pg_sleep")
    assert stmt.calls == 3
    assert stmt.min_ms >= 20
    assert stmt.total_ms >= 60
    assert stmt.stddev_ms >= 0


def test_nested_statements_are_told_from_top_level_ones(db: TestDatabase) -> None:
    db.execute("CREATE TABLE matrix_nested (id int)")
    db.execute(
        "CREATE FUNCTION matrix_count() RETURNS bigint LANGUAGE plpgsql AS "
        "$$ DECLARE n bigint; BEGIN SELECT count(*) INTO n FROM matrix_nested; RETURN n; END $$"
    )
    with db.connect() as conn:
        for _ in range(4):
            conn.execute("SELECT matrix_count()")
    statements = _statements(db)
    # the function's own statement, as PL/pgSQL runs it (the CREATE FUNCTION text mentions it too)
    nested_found = [s for s in _matching(statements, "FROM matrix_nested") if s.query.startswith("SELECT")]
    assert len(nested_found) == 1, [s.query for s in statements]
    nested = nested_found[0]
    (outer,) = _matching(statements, "SELECT matrix_count()")
    assert (nested.toplevel, nested.calls) == (False, 4)
    assert (outer.toplevel, outer.calls) == (True, 4)


def test_statements_of_other_databases_are_left_out(db: TestDatabase) -> None:
    # aliases, not literals: pg_stat_statements replaces literals with $1
    with psycopg.connect(db.cluster.dsn(), autocommit=True) as conn:
        conn.execute("SELECT 1 AS matrix_other_database")
    db.execute("SELECT 1 AS matrix_this_database")
    statements = _statements(db)
    assert len(_matching(statements, "matrix_this_database")) == 1
    assert not _matching(statements, "matrix_other_database")
    assert {s.dbid for s in statements} == {_database_oid(db)}


def _database_oid(db: TestDatabase) -> int:
    with db.connect() as conn:
        row = conn.execute("SELECT oid FROM pg_database WHERE datname = current_database()").fetchone()
    assert row is not None
    return int(row[0])


def test_statement_counters_restart_after_a_reset(db: TestDatabase) -> None:
    with db.connect() as conn:
        for _ in range(5):
            conn.execute("SELECT 42 AS matrix_answer")
    assert _matching(_statements(db), "matrix_answer")[0].calls == 5
    db.execute("SELECT pg_stat_statements_reset()")
    db.execute("SELECT 42 AS matrix_answer")
    assert _matching(_statements(db), "matrix_answer")[0].calls == 1
