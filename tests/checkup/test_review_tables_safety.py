"""Correctness review of the table, safety and settings checks: each test provokes a case a production DBA
meets (other sessions' temp tables, materialized views, sequences feeding narrower columns …) on the real
cluster and asserts the check-up judges it the way PostgreSQL behaves."""

from __future__ import annotations

import pytest

from pgdba.findings import Severity
from tests.checkup.helpers import find, run, script
from tests.conftest import TestDatabase
from tests.matrix.stats_visibility import eventually, publish_stats

TABLE_CHECKS = (
    "table.vacuum_overdue",
    "table.analyze_overdue",
    "table.dead_tuples",
    "table.no_primary_key",
    "table.seq_scan_heavy",
    "table.bloat",
)


@pytest.mark.catalog
def test_another_sessions_temp_table_is_not_judged(db: TestDatabase) -> None:
    # autovacuum never touches temp tables and no other session can VACUUM, ANALYZE or ALTER them;
    # keeper is left to autovacuum neither: an autoanalyze of it would end its finding before the check-up ran
    script(
        db,
        "CREATE TABLE keeper (id int, note text) WITH (autovacuum_enabled = off);"
        "INSERT INTO keeper SELECT g, 'x' FROM generate_series(1, 20000) g",
    )
    with db.connect() as app:
        app.execute("CREATE TEMP TABLE scratch (id int, note text)")
        app.execute("INSERT INTO scratch SELECT g, 'x' FROM generate_series(1, 30000) g")
        app.execute("DELETE FROM scratch WHERE id % 2 = 0")
        publish_stats(app)
        result = eventually(  # keeper's rows must be visible: it is judged, the temp table never is
            lambda: run(db, *TABLE_CHECKS),
            lambda r: any(f.object == "public.keeper" for f in find(r, "table.analyze_overdue")),
        )
        assert {f.object for f in result.report.findings} == {"public.keeper"}
        assert {f.code for f in result.report.findings} == {"table.analyze_overdue", "table.no_primary_key"}


@pytest.mark.catalog
def test_materialized_view_is_not_told_to_add_a_primary_key(db: TestDatabase) -> None:
    script(
        db,
        "CREATE TABLE grade (id int PRIMARY KEY, score int);"
        "CREATE MATERIALIZED VIEW grade_summary AS SELECT score, count(*) FROM grade GROUP BY score",
    )
    found = find(run(db, "table.no_primary_key"), "table.no_primary_key")
    assert [f.object for f in found] == []


@pytest.mark.catalog
def test_int_column_fed_by_an_unowned_bigint_sequence_default_is_found(db: TestDatabase) -> None:
    # CREATE SEQUENCE makes a bigint sequence; a hand-written DEFAULT nextval() does not make it OWNED BY
    script(
        db,
        "CREATE SEQUENCE ticket_seq;"
        "CREATE TABLE ticket (id int PRIMARY KEY DEFAULT nextval('ticket_seq'));"
        "SELECT setval('ticket_seq', 2100000000)",
    )
    found = find(run(db, "safety.sequence_exhaustion"), "safety.sequence_exhaustion")
    assert [f.object for f in found] == ["public.ticket_seq"]
    assert found[0].severity is Severity.CRITICAL
    assert found[0].metrics["column_type"] == "integer"


@pytest.mark.catalog
def test_cycling_sequence_that_outgrows_its_int_column_is_found(db: TestDatabase) -> None:
    # CYCLE restarts only at the sequence's own max: the int4 column overflows long before that
    script(
        db,
        "CREATE TABLE legacy (id int PRIMARY KEY);"
        "CREATE SEQUENCE legacy_id_seq AS bigint CYCLE OWNED BY legacy.id;"
        "SELECT setval('legacy_id_seq', 2100000000);"
        "CREATE SEQUENCE ring AS smallint CYCLE;"
        "SELECT setval('ring', 32000)",
    )
    found = find(run(db, "safety.sequence_exhaustion"), "safety.sequence_exhaustion")
    assert [f.object for f in found] == ["public.legacy_id_seq"]


@pytest.mark.catalog
def test_descending_bigint_sequence_feeding_an_int_column_is_found(db: TestDatabase) -> None:
    script(
        db,
        "CREATE TABLE credit (id int PRIMARY KEY);"
        "CREATE SEQUENCE credit_id_seq AS bigint INCREMENT BY -1 OWNED BY credit.id;"
        "SELECT setval('credit_id_seq', -2100000000)",
    )
    found = find(run(db, "safety.sequence_exhaustion"), "safety.sequence_exhaustion")
    assert [f.object for f in found] == ["public.credit_id_seq"]
    assert found[0].severity is Severity.CRITICAL


@pytest.mark.catalog
def test_autovacuum_disabled_in_any_boolean_spelling_is_recognised(db: TestDatabase) -> None:
    script(
        db,
        "CREATE TABLE attempt (id int PRIMARY KEY, score int) WITH (autovacuum_enabled = no);"
        "INSERT INTO attempt SELECT g, g FROM generate_series(1, 30000) g;"
        "ANALYZE attempt;"
        "DELETE FROM attempt WHERE id % 2 = 0",
    )
    result = eventually(
        lambda: run(db, "table.vacuum_overdue"),
        lambda r: bool(find(r, "table.vacuum_overdue")),
    )
    overdue = find(result, "table.vacuum_overdue")
    assert [f.object for f in overdue] == ["public.attempt"]
    assert overdue[0].metrics["autovacuum_enabled"] is False
