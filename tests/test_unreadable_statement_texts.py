"""One pg_stat_statements text the server cannot convert to this database's encoding (Latin-1 bytes recorded in
a SQL_ASCII database) fails every read of the view, in every database of the server. pgdba keeps the counters,
says whose texts are unreadable and how to forget them, and refuses only what needs the texts."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient

from pgdba.api.app import create_app
from pgdba.api.settings import ApiSettings
from pgdba.cli import main
from pgdba.embedded import EmbeddedCluster
from pgdba.history.snapshot import take_snapshot
from pgdba.history.store import HistoryStore
from pgdba.optimizer import analyze_queries
from pgdba.pool.server_limits import server_limits
from pgdba.server import load_server_facts
from pgdba.stats.statements import statement_stats
from pgdba.target import resolve_target, session
from tests.conftest import TestDatabase

pytestmark = pytest.mark.catalog

PROBE = "SELECT count(*) FROM pg_class WHERE relname = 'unreadable_probe'"


@pytest.fixture
def latin1_text_oid(pg_cluster: EmbeddedCluster, db: TestDatabase) -> Iterator[int]:
    """The oid of a SQL_ASCII database whose statement `SELECT 1 AS "café"` pg_stat_statements recorded in
    Latin-1; its entries are reset afterwards (from `db`, which has the extension), so the rest of the suite
    reads the view again."""
    name = f"a_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_cluster.dsn(), autocommit=True) as conn:
        conn.execute(
            f"CREATE DATABASE \"{name}\" ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0"
        )
        row = conn.execute("SELECT oid FROM pg_database WHERE datname = %s", (name,)).fetchone()
        assert row is not None
        oid = int(row[0])
    try:
        with psycopg.connect(pg_cluster.dsn(name), autocommit=True, client_encoding="SQL_ASCII") as conn:
            conn.execute("SET pg_stat_statements.track = 'all'")
            conn.execute(b'SELECT 1 AS "caf\xe9"')  # an alias survives normalisation, a constant would not
        # the condition the tests stand on
        with db.connect() as conn, pytest.raises(psycopg.errors.CharacterNotInRepertoire):
            conn.execute("SELECT query FROM pg_stat_statements").fetchall()
        yield oid
    finally:
        with db.connect() as conn:
            conn.execute("SELECT pg_stat_statements_reset(0, %s::oid, 0)", (oid,))
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _run_probe(db: TestDatabase, times: int) -> None:
    with db.connect() as conn:
        conn.execute("SET pg_stat_statements.track = 'all'")
        for _ in range(times):
            conn.execute(PROBE)


def test_counters_stay_readable_and_the_text_says_whose_texts_to_forget(
    db: TestDatabase, latin1_text_oid: int
) -> None:
    _run_probe(db, 23)  # a count no other statement of this fresh database reaches
    with db.target.connect() as conn:
        stats = statement_stats(conn, load_server_facts(conn))
    (probe,) = [s for s in stats if s.calls == 23]
    assert probe.query.startswith("(statement text unreadable: pg_stat_statements cannot convert")
    # the SQL_ASCII database comes first (a SQL_ASCII database of an earlier test file may be listed too)
    assert 'it holds statements of databases in another encoding: "a_' in probe.query
    assert '(invalid byte sequence for encoding "UTF8": …)' in probe.query  # the text's bytes are not quoted
    assert "0xe9" not in probe.query
    # and the reset it gives makes the texts readable again
    reset = _given_reset(probe.query)
    assert str(latin1_text_oid) in reset
    db.execute(reset)
    with db.target.connect() as conn:
        stats = statement_stats(conn, load_server_facts(conn))
    (probe,) = [s for s in stats if s.calls == 23]
    assert probe.query == PROBE.replace("'unreadable_probe'", "$1")


def _given_reset(text: str) -> str:
    """The reset statement an unreadable-text reason ends with."""
    return text.rpartition("forget them with ")[2].removesuffix(")").removesuffix("; or pass --queries FILE")


def test_check_up_keeps_its_statement_checks(
    db: TestDatabase, latin1_text_oid: int, capsys: pytest.CaptureFixture[str]
) -> None:
    _run_probe(db, 2)
    assert main(["check", "--dsn", db.dsn, "--format", "json"]) in (0, 1)
    report = json.loads(capsys.readouterr().out)
    assert not [s for s in report["skipped"] if "could not be read" in s["reason"]], report["skipped"]
    (note,) = [n for n in report["notes"] if n.startswith("statement texts unreadable")]
    assert str(latin1_text_oid) in _given_reset(note)


def test_pool_advice_measures_the_mean_call_time_without_texts(
    db: TestDatabase, latin1_text_oid: int
) -> None:
    _run_probe(db, 3)
    with db.target.connect() as conn:
        limits = server_limits(conn, load_server_facts(conn))
    assert limits.calls >= 3 and limits.mean_call_ms is not None and limits.statements_note == ""


def test_advice_from_statements_is_a_one_line_error_that_names_the_reset(
    db: TestDatabase, latin1_text_oid: int, capsys: pytest.CaptureFixture[str]
) -> None:
    _run_probe(db, 2)
    assert main(["advise", "indexes", "--dsn", db.dsn]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("pgdba: error: pg_stat_statements cannot convert one of its query texts")
    assert str(latin1_text_oid) in _given_reset(line)
    assert line.endswith("; or pass --queries FILE")


def test_advice_from_a_file_of_queries_does_not_read_the_texts(
    db: TestDatabase, latin1_text_oid: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db.execute(
        "CREATE TABLE lesson (id int PRIMARY KEY, course_id int, title text) WITH (autovacuum_enabled = off);"
        "INSERT INTO lesson SELECT g, g % 500, 'l' || g FROM generate_series(1, 50000) AS g; ANALYZE lesson"
    )
    queries = tmp_path / "queries.sql"
    queries.write_text("SELECT * FROM lesson WHERE course_id = 42;\n", encoding="utf-8")
    assert main(["advise", "indexes", "--dsn", db.dsn, "--queries", str(queries), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [i["columns"] for i in data["indexes"]] == [["course_id"]]


def test_a_latin1_database_keeps_its_counters_when_another_holds_a_character_latin1_lacks(
    pg_cluster: EmbeddedCluster, db: TestDatabase
) -> None:
    name = f"l_{uuid.uuid4().hex[:12]}"
    with db.connect() as conn:
        conn.execute(
            f"CREATE DATABASE \"{name}\" ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0"
        )
    latin1 = pg_cluster.dsn(name)
    try:
        with psycopg.connect(latin1, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION pg_stat_statements; SET pg_stat_statements.track = 'all'")
            for _ in range(23):
                conn.execute(PROBE)
        with db.connect() as conn:
            conn.execute("SET pg_stat_statements.track = 'all'")
            conn.execute('SELECT 1 AS "€"')  # UTF-8, with no Latin-1 equivalent
            oid = conn.execute("SELECT oid FROM pg_database WHERE datname = current_database()").fetchone()
        assert oid is not None
        with resolve_target(latin1).connect() as conn:
            stats = statement_stats(conn, load_server_facts(conn))
        (probe,) = [s for s in stats if s.calls == 23]
        assert 'has no equivalent in encoding "LATIN1"' in probe.query
        reset = _given_reset(probe.query)
        assert str(oid[0]) in reset
        db.execute(reset)
        with resolve_target(latin1).connect() as conn:
            stats = statement_stats(conn, load_server_facts(conn))
        (probe,) = [s for s in stats if s.calls == 23]
        assert probe.query == PROBE.replace("'unreadable_probe'", "$1")
    finally:
        with db.connect() as conn:
            conn.execute(
                "SELECT pg_stat_statements_reset(0, (SELECT oid FROM pg_database WHERE datname = current_database()), 0)"
            )
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_the_api_answers_409_with_the_reason_where_texts_are_needed_and_200_elsewhere(
    db: TestDatabase, latin1_text_oid: int, tmp_path: Path
) -> None:
    _run_probe(db, 2)
    api = TestClient(create_app(ApiSettings(db.target, history_store=str(tmp_path / "history.sqlite3"))))
    advice = api.get("/api/v1/advisor/indexes")
    assert advice.status_code == 409, advice.text
    assert advice.json()["detail"].startswith("pg_stat_statements cannot convert one of its query texts")
    assert str(latin1_text_oid) in advice.json()["detail"]
    for path in (
        "/api/v1/checkup",
        "/api/v1/pool/advice",
        "/api/v1/connections/activity",
        "/api/v1/queries/top",
    ):
        assert api.get(path).status_code == 200, path


def test_the_slow_query_alert_is_unknown_not_quietly_ok(
    db: TestDatabase, latin1_text_oid: int, capsys: pytest.CaptureFixture[str]
) -> None:
    db.execute("SELECT pg_sleep(0.05)")  # a slow statement: which one is the application's is unknowable
    assert main(["alerts", "check", "--dsn", db.dsn, "--format", "json"]) in (0, 1)
    alerts = json.loads(capsys.readouterr().out)["alerts"]
    (slow,) = [a for a in alerts if a["rule"] == "slow_queries"]
    assert slow["status"] == "unknown" and slow["value"] is None
    assert slow["note"].startswith("unknown: pg_stat_statements' texts are unreadable here"), slow["note"]


def test_the_query_optimizer_says_why_it_analysed_nothing(db: TestDatabase, latin1_text_oid: int) -> None:
    _run_probe(db, 3)
    report = analyze_queries(db.target)
    assert report.analyzed == 0
    (note,) = [n for n in report.notes if n.startswith("statement texts unreadable, no statement analysed")]
    assert str(latin1_text_oid) in _given_reset(note)


def test_the_query_optimizer_says_it_over_a_quiet_delta_window_too(
    db: TestDatabase, latin1_text_oid: int, tmp_path: Path
) -> None:
    """With a history snapshot the report covers the activity since it; when none ran, the reason the texts
    are unreadable still shows beside the "no statement ran" note."""
    _run_probe(db, 3)
    with HistoryStore(tmp_path / "h.sqlite3") as store:
        with session(db.target) as conn:
            take_snapshot(conn, load_server_facts(conn), store, db.target.key)
        report = analyze_queries(db.target, store=store)
    assert report.window_source == "delta" and report.analyzed == 0
    (note,) = [n for n in report.notes if n.startswith("statement texts unreadable, no statement analysed")]
    assert str(latin1_text_oid) in _given_reset(note)
