"""A SQL_ASCII database: pgdba reads it as UTF-8 (libpq would otherwise take SQL_ASCII as the client
encoding, and psycopg would hand back every name as bytes: an internal error in every command)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from pgdba.cli import main
from pgdba.embedded import EmbeddedCluster
from pgdba.stats.activity import session_activity
from pgdba.stats.database import wraparound_ages
from tests.conftest import TestDatabase

pytestmark = pytest.mark.catalog


@pytest.fixture
def sql_ascii_dsn(pg_cluster: EmbeddedCluster) -> Iterator[str]:
    name = f"a_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_cluster.dsn(), autocommit=True) as conn:
        conn.execute(
            f"CREATE DATABASE \"{name}\" ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0"
        )
    dsn = pg_cluster.dsn(name)
    with psycopg.connect(dsn, autocommit=True, client_encoding="UTF8") as conn:
        conn.execute(
            'CREATE TABLE "café" (id int PRIMARY KEY, title text);'
            'CREATE INDEX "café_title_idx" ON "café" (title);'
            'CREATE INDEX "café_title_idx1" ON "café" (title);'
            "INSERT INTO \"café\" SELECT g, 'cours ' || g FROM generate_series(1, 100) AS g;"
            'ANALYZE "café"'
        )
    yield dsn
    with psycopg.connect(pg_cluster.dsn(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_names_written_in_utf8_read_back_as_text(
    sql_ascii_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["capacity", "tables", "--dsn", sql_ascii_dsn, "--format", "json"]) == 0
    tables = json.loads(capsys.readouterr().out)["tables"]
    assert [(t["schema"], t["table"]) for t in tables] == [("public", "café")]
    assert main(["indexes", "duplicate", "--dsn", sql_ascii_dsn, "--format", "json"]) == 0
    (finding,) = json.loads(capsys.readouterr().out)["findings"]
    assert finding["object"] == "public.café_title_idx1"
    assert main(["check", "--dsn", sql_ascii_dsn]) in (0, 1)
    captured = capsys.readouterr()
    assert "Duplicate of café_title_idx" in captured.out
    assert "internal error" not in captured.err


def test_bytes_that_are_not_utf8_are_a_one_line_error(
    sql_ascii_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with psycopg.connect(sql_ascii_dsn, autocommit=True, client_encoding="SQL_ASCII") as conn:
        # untracked: pg_stat_statements could not convert this text for any other database of the cluster
        # (tests/test_unreadable_statement_texts.py), and the other test files share the cluster
        conn.execute("SET pg_stat_statements.track = 'none'")
        conn.execute(b'CREATE TABLE "caf\xe9" (id int PRIMARY KEY)')  # Latin-1, stored as it came
    assert main(["capacity", "tables", "--dsn", sql_ascii_dsn]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("pgdba: error: ") and 'invalid byte sequence for encoding "UTF8": 0xe9' in line


def test_a_latin1_session_elsewhere_on_the_server_leaves_the_check_up_and_alerts_working(
    sql_ascii_dsn: str, db: TestDatabase, capsys: pytest.CaptureFixture[str]
) -> None:
    # pg_stat_activity hands out each session's text unconverted: these Latin-1 bytes reach a UTF-8 reader
    with psycopg.connect(sql_ascii_dsn, autocommit=True, client_encoding="SQL_ASCII") as idle:
        idle.execute("SET pg_stat_statements.track = 'none'")  # see the test above
        idle.execute(b'SELECT 1 AS "caf\xe9"')
        with db.target.connect() as conn:
            sessions = session_activity(conn)
        assert [s.query for s in sessions if s.query.startswith("SELECT 1 AS")] == ['SELECT 1 AS "caf\ufffd"']
        assert main(["check", "--dsn", db.dsn, "--format", "json"]) in (0, 1)
        report = json.loads(capsys.readouterr().out)
        assert "sessions" not in json.dumps(report["skipped"])
        assert main(["alerts", "check", "--dsn", db.dsn, "--format", "json"]) in (0, 1)
        alerts = json.loads(capsys.readouterr().out)["alerts"]
        (longest,) = [a for a in alerts if a["metric"] == "longest_transaction_seconds"]
        assert longest["status"] != "unknown", longest["note"]  # the activity sample was read


def test_a_database_named_in_latin1_leaves_every_other_database_checkable(
    sql_ascii_dsn: str, db: TestDatabase, capsys: pytest.CaptureFixture[str]
) -> None:
    """Database names live in the shared catalog and reach a UTF-8 database unconverted: this one failed the
    check-up of every database of the server ("an input is not UTF-8 text")."""
    latin1_name = b"caf\xe9_" + uuid.uuid4().hex[:8].encode()
    with psycopg.connect(sql_ascii_dsn, autocommit=True, client_encoding="SQL_ASCII") as legacy:
        legacy.execute("SET pg_stat_statements.track = 'none'")  # see the test above
        legacy.execute(b'CREATE DATABASE "' + latin1_name + b'"')
        try:
            assert main(["check", "--dsn", db.dsn, "--format", "json"]) in (0, 1)
            report = json.loads(capsys.readouterr().out)
            assert "wraparound" not in json.dumps(report["skipped"])
            with db.target.connect() as conn:
                objects = [age.object for age in wraparound_ages(conn)]
            assert f"database caf\ufffd_{latin1_name[-8:].decode()}" in objects
        finally:
            legacy.execute(b'DROP DATABASE "' + latin1_name + b'" WITH (FORCE)')
