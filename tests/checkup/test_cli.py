"""The check-up commands end to end: output, JSON shape, exit codes, the report's diff, maintenance --apply."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pgdba.cli import main
from pgdba.history.store import HistoryStore
from pgdba.maintenance import maintenance_plan
from tests.checkup.helpers import script
from tests.conftest import TestDatabase
from tests.matrix.stats_visibility import eventually


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().out


def test_check_exit_code_follows_fail_on(
    db: TestDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = str(tmp_path / "h.sqlite3")
    db.execute("CREATE TABLE nopk (v int)")
    code, out = _run(capsys, "check", "--dsn", db.dsn, "--store", store)
    assert code == 0  # default --fail-on critical; only a warning here
    assert "Health score 7.0/10, capped at 7 (warning findings)" in out
    assert "No primary key  (public.nopk)" in out
    assert "No backup of this database is known to pgdba and WAL archiving is not active" in out
    assert "skipped backup.restore_test" not in out
    code, _ = _run(capsys, "check", "--dsn", db.dsn, "--store", store, "--fail-on", "warning")
    assert code == 1


def test_check_json_has_score_findings_and_skipped(
    db: TestDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db.execute("CREATE TABLE nopk (v int)")
    code, out = _run(capsys, "check", "--dsn", db.dsn, "--store", str(tmp_path / "h"), "--format", "json")
    data = json.loads(out)
    assert code == 0 and data["schema_version"] == 1
    assert data["score"]["score"] == 7.0
    assert [f["code"] for f in data["findings"] if f["severity"] != "info"] == [
        "backup.none_known",
        "table.no_primary_key",
    ]
    assert "backup.restore_test" not in {s["check"] for s in data["skipped"]}


def test_bad_threshold_is_one_line_and_exit_2(db: TestDatabase, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["check", "--dsn", db.dsn, "--set", "nope.x=1"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("pgdba: error: bad threshold 'nope.x=1'") and err.count("\n") == 1


def test_health_lists_deductions_with_weights(
    db: TestDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db.execute("CREATE TABLE enrollment (id serial PRIMARY KEY)")
    db.execute("SELECT setval('enrollment_id_seq', 2100000000)")
    HistoryStore(tmp_path / "h").add_record(db.target.key, "restore_test", {"passed": True})  # backed up
    code, out = _run(capsys, "health", "--dsn", db.dsn, "--store", str(tmp_path / "h"), "--format", "json")
    data = json.loads(out)
    assert code == 0 and data["score"] == 4.0 and data["cap"] == 4.0
    assert data["deductions"][0]["check"] == "safety.sequence_exhaustion"
    assert data["deductions"][0]["weight"] == 4 and data["deductions"][0]["severity"] == "critical"


def test_report_diffs_against_the_previous_report(
    db: TestDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = str(tmp_path / "h.sqlite3")
    db.execute("CREATE TABLE nopk (v int)")
    code, out = _run(capsys, "report", "--dsn", db.dsn, "--store", store, "--out", str(tmp_path / "r1.md"))
    assert code == 0 and out.startswith(f"wrote {tmp_path / 'r1.md'}: score 7.0/10")
    first = (tmp_path / "r1.md").read_text()
    assert "_No previous report: this is the first one._" in first and "`table.no_primary_key`" in first
    db.execute("ALTER TABLE nopk ADD PRIMARY KEY (v)")
    db.execute("CREATE TABLE log_line (at int)")
    code, out = _run(capsys, "report", "--dsn", db.dsn, "--store", store, "--out", str(tmp_path / "r2.html"))
    assert code == 0 and "(1 new, 1 fixed, 0 worse)" in out
    html = (tmp_path / "r2.html").read_text()
    assert "<h3>New (1)</h3>" in html and "public.log_line" in html
    assert "<h3>Fixed (1)</h3>" in html and "public.nopk" in html
    code = main(["report", "--dsn", db.dsn, "--store", store, "--out", str(tmp_path / "r.pdf")])
    assert code == 2
    # an --out that cannot be written is refused before the report is built and stored: the next report
    # still diffs against r2, so it finds nothing new
    capsys.readouterr()
    code = main(["report", "--dsn", db.dsn, "--store", store, "--out", str(tmp_path / "no-such" / "r3.md")])
    assert code == 2 and "directory" in capsys.readouterr().err and not (tmp_path / "no-such").exists()
    db.execute("CREATE TABLE another_log (at int)")
    code = main(["report", "--dsn", db.dsn, "--store", store, "--out", str(tmp_path / "r3.md")])
    out = capsys.readouterr().out
    assert code == 0 and "(1 new, 0 fixed, 0 worse)" in out
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no partial file


def test_maintenance_prints_sql_first_then_what_it_did(
    db: TestDatabase, capsys: pytest.CaptureFixture[str]
) -> None:
    script(
        db,
        "CREATE TABLE attempt (id int PRIMARY KEY) WITH (autovacuum_enabled = false);"
        "INSERT INTO attempt SELECT generate_series(1, 20000);"
        "ANALYZE attempt;"
        "DELETE FROM attempt WHERE id > 5000",
    )
    code, out = _run(capsys, "maintenance", "--dsn", db.dsn, "--format", "json")
    plan = json.loads(out)
    assert code == 0 and plan["applied"] is False
    assert [t["table"] for t in plan["tables"]] == ["public.attempt"]
    code, out = _run(capsys, "maintenance", "--dsn", db.dsn, "--apply")
    assert code == 0
    assert out.splitlines()[0] == 'VACUUM (ANALYZE) "public"."attempt";'
    assert "done" in out
    code, out = _run(capsys, "maintenance", "--dsn", db.dsn)
    assert "no table needs VACUUM or ANALYZE" in out


def test_maintenance_apply_reports_a_table_held_by_access_exclusive_and_vacuums_the_others(
    db: TestDatabase, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("attempt", "progress"):
        script(
            db,
            f"CREATE TABLE {name} (id int PRIMARY KEY) WITH (autovacuum_enabled = false);"
            f"INSERT INTO {name} SELECT generate_series(1, 20000);",
        )
    eventually(  # both tables' rows must be visible, or neither is planned as never analysed
        lambda: maintenance_plan(db.target),
        lambda p: {i.table for i in p.items} >= {"attempt", "progress"},
    )
    ddl = db.connect(autocommit=False)
    ddl.execute("LOCK TABLE attempt IN ACCESS EXCLUSIVE MODE")
    try:
        code, out = _run(
            capsys, "maintenance", "--dsn", db.dsn, "--apply", "--lock-timeout", "100", "--format", "json"
        )
    finally:
        ddl.rollback()
        ddl.close()
    assert code == 1
    tables = {t["table"]: t for t in json.loads(out)["tables"]}
    assert tables["public.attempt"]["status"] == "failed"
    assert "lock timeout" in tables["public.attempt"]["error"]
    assert tables["public.progress"]["status"] == "done"
    vacuumed = eventually(  # the VACUUM must be visible in the statistics
        lambda: _vacuumed_tables(db),
        lambda names: names == ["progress"],
    )
    assert vacuumed == ["progress"]


def _vacuumed_tables(db: TestDatabase) -> list[str]:
    with db.connect() as conn:
        rows = conn.execute(
            "SELECT relname FROM pg_stat_user_tables WHERE last_vacuum IS NOT NULL ORDER BY relname"
        ).fetchall()
    return [row[0] for row in rows]


def test_index_and_query_subcommands(db: TestDatabase, capsys: pytest.CaptureFixture[str]) -> None:
    script(
        db,
        "CREATE TABLE course (id int PRIMARY KEY);"
        "CREATE TABLE lesson (id int PRIMARY KEY, course_id int REFERENCES course (id));"
        "CREATE INDEX a ON lesson (id);"
        "INSERT INTO course SELECT generate_series(1, 10);"
        "INSERT INTO lesson SELECT g, 1 + g % 10 FROM generate_series(1, 2000) g;"
        "ANALYZE lesson",
    )
    code, out = _run(capsys, "indexes", "duplicate", "--dsn", db.dsn, "--format", "json")
    assert code == 0 and [f["code"] for f in json.loads(out)["findings"]] == ["index.duplicate"]
    code, out = _run(
        capsys, "indexes", "missing-fk", "--dsn", db.dsn, "--min-rows", "1000", "--format", "json"
    )
    assert [f["object"] for f in json.loads(out)["findings"]] == ["public.lesson"]
    code, out = _run(capsys, "indexes", "invalid", "--dsn", db.dsn)
    assert code == 0 and out.startswith("Findings: none") is False and "Invalid indexes: none" in out
    with db.connect() as conn:
        for _ in range(5):
            conn.execute("SELECT pg_sleep(0.11), id FROM course WHERE id = %s", (1,))
    code, out = _run(capsys, "queries", "slow", "--dsn", db.dsn, "--format", "json")
    assert [f["code"] for f in json.loads(out)["findings"]] == ["query.slow"]
    code, out = _run(capsys, "queries", "slow", "--dsn", db.dsn, "--threshold", "500", "--format", "json")
    assert json.loads(out)["findings"] == []
    for command in ("n-plus-one", "cache"):
        code, out = _run(capsys, "queries", command, "--dsn", db.dsn, "--format", "json")
        assert code == 0 and json.loads(out)["findings"] == []


def test_health_markdown_lists_skipped_checks_as_code_and_escaped_text(
    db: TestDatabase, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = _run(capsys, "health", "--dsn", db.dsn, "-f", "markdown")
    skipped = [line for line in out.splitlines() if line.startswith("- skipped ")]
    assert code in (0, 1) and skipped  # a fresh database skips the history-based checks
    assert all(line.startswith("- skipped `") and "`: " in line for line in skipped)
    assert not any(line.startswith("- _") for line in out.splitlines())
