"""The advisor while a migration holds ACCESS EXCLUSIVE on one table (ALTER TABLE, VACUUM FULL, CLUSTER): the
queries that read it are left out with a note naming it, its indexes are not judged for dropping, and the
rest of the database is still advised, without waiting for the lock."""

from __future__ import annotations

from pathlib import Path

import pytest

from pgdba.advisor.advise import Advice, AdvisorOptions, advise_indexes
from pgdba.advisor.catalog import load_tables, user_table_oids
from pgdba.advisor.workload import WorkloadQuery
from pgdba.cli import main
from pgdba.server import load_server_facts
from pgdba.target import resolve_target
from tests.conftest import TestDatabase
from tests.locks import locked
from tests.matrix.stats_visibility import NEEDS_UNSTAMPED_STATS

QUICK_LOCK_TIMEOUT_MS = 100  # any wait for a lock fails within 0.1 s

SHOP = """
CREATE TABLE users (id int PRIMARY KEY, org_id int NOT NULL, email text);
INSERT INTO users SELECT g, g % 200, 'u' || g FROM generate_series(1, 20000) g;
CREATE INDEX users_email_unused ON users (email);
CREATE VIEW active_users AS SELECT * FROM users WHERE org_id > 0;
CREATE TABLE orders (id int PRIMARY KEY, user_id int NOT NULL, total int, note text);
INSERT INTO orders SELECT g, g % 5000, g % 97, md5(g::text) FROM generate_series(1, 20000) g;
CREATE INDEX orders_note_unused ON orders (note);
CREATE TABLE ev (id int, account_id int NOT NULL, at date NOT NULL) PARTITION BY RANGE (at);
CREATE TABLE ev_2024 PARTITION OF ev FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE ev_2025 PARTITION OF ev FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
INSERT INTO ev SELECT g, g % 1000, date '2024-01-01' + g % 700 FROM generate_series(1, 20000) g;
ANALYZE;
"""
USERS_QUERY = "SELECT * FROM users WHERE org_id = $1"
VIEW_QUERY = "SELECT * FROM active_users WHERE email = $1"
EVENTS_QUERY = "SELECT * FROM ev WHERE account_id = $1"
ORDERS_QUERY = "SELECT * FROM orders WHERE user_id = $1"


def advise_quickly(db: TestDatabase, queries: list[str]) -> Advice:
    """The advisor on a session whose lock_timeout is short: a wait for a lock fails fast instead of hiding."""
    target = resolve_target(db.dsn, lock_timeout_ms=QUICK_LOCK_TIMEOUT_MS)
    with target.connect() as conn:
        facts = load_server_facts(conn)
        # unused indexes judged on the test cluster's statistics, which began when the suite started
        options = AdvisorOptions(min_stats_age_days=0)
        return advise_indexes(conn, facts, [WorkloadQuery(q) for q in queries], options)


def skipped_reasons(advice: Advice) -> dict[str, str]:
    return dict(advice.skipped)


@pytest.mark.hypopg
@NEEDS_UNSTAMPED_STATS
def test_queries_on_a_locked_table_are_left_out_and_the_rest_is_still_advised(db: TestDatabase) -> None:
    db.execute(SHOP)
    with locked(db, "users"):
        advice = advise_quickly(db, [USERS_QUERY, VIEW_QUERY, ORDERS_QUERY])
    assert [r.candidate.columns for r in advice.recommendations] == [("user_id",)]
    assert advice.queries == 1
    reasons = skipped_reasons(advice)
    for query in (USERS_QUERY, VIEW_QUERY):  # the view reads the locked table too
        assert "public.users" in reasons[query] and "ACCESS EXCLUSIVE" in reasons[query], reasons
    # indexes to drop: the unreadable table's are not judged (a note names it); the others still are
    assert {d.index.name for d in advice.drops} == {"orders_note_unused"}
    assert any("public.users" in n and "not judged" in n for n in advice.notes), advice.notes


@pytest.mark.hypopg
def test_a_partitioned_table_with_a_locked_partition_is_left_out(db: TestDatabase) -> None:
    db.execute(SHOP)
    with locked(db, "ev_2025"):  # e.g. VACUUM FULL on one partition: planning a query on ev locks it
        advice = advise_quickly(db, [EVENTS_QUERY, ORDERS_QUERY])
    assert [r.candidate.relation for r in advice.recommendations] == ["public.orders"]
    assert "public.ev_2025" in skipped_reasons(advice)[EVENTS_QUERY]


@pytest.mark.hypopg
def test_a_locked_table_outside_the_workload_costs_nothing_but_its_drop_advice(db: TestDatabase) -> None:
    db.execute(SHOP)
    with locked(db, "users"):  # indexes to drop read every table of the database
        advice = advise_quickly(db, [ORDERS_QUERY])
    assert [r.candidate.columns for r in advice.recommendations] == [("user_id",)]
    assert all(d.index.table != "users" for d in advice.drops)
    assert any("public.users" in n and "not judged" in n for n in advice.notes), advice.notes


@pytest.mark.hypopg
def test_a_workload_that_reads_only_locked_tables_is_one_line_naming_them(
    db: TestDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db.execute(SHOP)
    queries = tmp_path / "workload.sql"
    queries.write_text(f"{USERS_QUERY};\n{VIEW_QUERY};\n")
    with locked(db, "users"):
        code = main(["advise", "indexes", "--dsn", db.dsn, "--queries", str(queries)])
    out, err = capsys.readouterr()
    assert code == 2 and out == "" and err.count("\n") == 1, err
    assert "public.users" in err and "ACCESS EXCLUSIVE" in err and "Traceback" not in err


@pytest.mark.hypopg
def test_workload_from_pg_stat_statements_is_advised_while_a_written_table_is_locked(
    db: TestDatabase, capsys: pytest.CaptureFixture[str]
) -> None:
    db.execute(SHOP)
    db.execute("SELECT pg_stat_statements_reset()")
    with db.connect() as app:  # the application: reads orders, writes users
        for n in range(30):
            app.execute("SELECT * FROM orders WHERE user_id = %s", (n,))
            app.execute("UPDATE users SET email = email WHERE id = %s", (n,))
    with locked(db, "users"):
        code = main(["advise", "indexes", "--dsn", db.dsn, "--min-mean-ms", "0", "--min-calls", "1"])
    out, err = capsys.readouterr()
    assert code == 0 and err == "", err
    assert "orders_user_id_idx" in out and "public.users" in out


def test_load_tables_reads_a_locked_partition_without_waiting(db: TestDatabase) -> None:
    """load_tables reads no size or definition of a locked table (those would wait for its lock) and says
    which relation is locked: the partition, for it and for its partitioned table."""
    db.execute(SHOP)
    target = resolve_target(db.dsn, lock_timeout_ms=QUICK_LOCK_TIMEOUT_MS)
    with locked(db, "ev_2024"), target.connect() as conn:
        tables = load_tables(conn, user_table_oids(conn))
    by_name = {t.qualified_name: t for t in tables.values()}
    assert by_name["public.ev_2024"].locked == by_name["public.ev"].locked == "public.ev_2024"
    assert by_name["public.orders"].locked is None and by_name["public.orders"].size_bytes > 0
