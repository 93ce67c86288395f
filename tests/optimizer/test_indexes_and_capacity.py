"""Index usage, unused indexes and table capacity against the real cluster."""

from __future__ import annotations

from datetime import timedelta

import pytest

from pgdba.optimizer import capacity_tables, index_usage, unused_index_report
from tests.conftest import TestDatabase
from tests.matrix.stats_visibility import eventually, publish_stats

# the test cluster's statistics began when the suite started: judged only when any age is accepted
ANY_AGE = timedelta(0)


def _schema(db: TestDatabase) -> None:
    with db.connect() as conn:
        conn.execute(
            "CREATE TABLE account (id serial PRIMARY KEY, email text NOT NULL, region text, note text)"
        )
        conn.execute("CREATE UNIQUE INDEX account_email_key ON account (email)")
        conn.execute(
            "CREATE TABLE tagged (account_id int, tag text, CONSTRAINT tagged_uq UNIQUE (account_id, tag))"
        )
        conn.execute("CREATE INDEX account_region_idx ON account (region)")
        conn.execute("CREATE INDEX account_note_idx ON account (note)")
        conn.execute(
            "INSERT INTO account (email, region, note) SELECT 'u' || i || '@x', 'r' || (i % 5), repeat('n', 300)"
            " FROM generate_series(1, 3000) i"
        )
        conn.execute("ANALYZE account")
        conn.execute("SET enable_seqscan = off")
        conn.execute("SELECT count(*) FROM account WHERE region = 'r1'")
        publish_stats(conn)


@pytest.mark.catalog
def test_unused_index_ignores_unique_primary_and_constraint_indexes(db: TestDatabase) -> None:
    _schema(db)
    report = eventually(  # the region index's one scan must be visible, or it counts as unused
        lambda: unused_index_report(db.target, min_stats_age=ANY_AGE).to_dict(),
        lambda r: all(row["index"] != "account_region_idx" for row in r["indexes"]),
    )
    names = {row["index"] for row in report["indexes"]}
    assert names == {"account_note_idx"}
    row = report["indexes"][0]
    assert row["sql"] == 'DROP INDEX CONCURRENTLY "public"."account_note_idx";'
    assert report["totalReclaimableBytes"] == row["sizeBytes"] > 0


@pytest.mark.catalog
def test_unused_index_report_never_proposes_the_index_a_foreign_key_needs(db: TestDatabase) -> None:
    _schema(db)
    db.execute("CREATE TABLE invoice (id int PRIMARY KEY, account_id int REFERENCES account (id), memo text)")
    db.execute("CREATE INDEX invoice_account_id_idx ON invoice (account_id)")  # serves the FK, never scanned
    db.execute("CREATE INDEX invoice_memo_idx ON invoice (memo)")  # serves nothing, never scanned
    names = {
        row["index"] for row in unused_index_report(db.target, min_stats_age=ANY_AGE).to_dict()["indexes"]
    }
    assert "invoice_memo_idx" in names and "invoice_account_id_idx" not in names


@pytest.mark.catalog
def test_index_usage_lists_every_index_least_used_first(db: TestDatabase) -> None:
    _schema(db)
    report = eventually(
        lambda: index_usage(db.target).to_dict(),
        lambda r: any(row["index"] == "account_region_idx" and row["scans"] >= 1 for row in r["indexes"]),
    )
    names = [row["index"] for row in report["indexes"]]
    assert set(names) == {
        "account_pkey",
        "account_email_key",
        "account_region_idx",
        "account_note_idx",
        "tagged_uq",
    }
    region = next(r for r in report["indexes"] if r["index"] == "account_region_idx")
    assert region["scans"] >= 1
    assert names.index("account_region_idx") == len(names) - 1
    assert next(r for r in report["indexes"] if r["index"] == "tagged_uq")["constraint"] is True


@pytest.mark.catalog
def test_capacity_reports_heap_index_toast_and_dead_rows(db: TestDatabase) -> None:
    _schema(db)
    with db.connect() as conn:
        conn.execute("ALTER TABLE account SET (autovacuum_enabled = off)")
        conn.execute("DELETE FROM account WHERE id <= 1000")
        publish_stats(conn)
    report = eventually(
        lambda: capacity_tables(db.target).to_dict(),
        lambda r: any(t["table"] == "account" and t["deadRows"] >= 1000 for t in r["tables"]),
    )
    account = next(t for t in report["tables"] if t["table"] == "account")
    assert account["tableBytes"] > 0 and account["indexBytes"] > 0
    assert account["totalBytes"] == account["tableBytes"] + account["indexBytes"] + account["toastBytes"] or (
        account["totalBytes"] >= account["tableBytes"] + account["indexBytes"]
    )
    assert account["deadRows"] == 1000
    assert report["tables"][0]["table"] == "account"
    assert report["databaseSizeBytes"] > account["totalBytes"]
