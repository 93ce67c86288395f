"""Names and query text from the database reach the terminal literally, never as Rich markup."""

from __future__ import annotations

from pathlib import Path

import pytest

from pgdba.cli import main
from pgdba.findings import Finding, Report, Severity, SkippedCheck
from pgdba.render import Column, print_report, print_rows
from tests.conftest import TestDatabase

# Each would be a Rich tag: a closing tag with no opening one crashes, the others vanish.
MARKUP_NAMES = ("evil[/red]", "t[red]hidden", "t:fire:")


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().out


def _create_tables_named_like_markup(db: TestDatabase) -> None:
    for name in MARKUP_NAMES:
        db.execute(f'CREATE TABLE "{name}" (id int)')  # no primary key: `check` reports each one
    db.execute('CREATE INDEX "idx[bold]x[/bold]" ON "t[red]hidden" (id)')


def test_check_shows_table_names_with_brackets_literally(
    db: TestDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _create_tables_named_like_markup(db)
    code, out = _run(capsys, "check", "--dsn", db.dsn, "--store", str(tmp_path / "h.sqlite3"))
    assert code == 0  # only warnings; the default --fail-on is critical
    for name in MARKUP_NAMES:
        assert f"No primary key  (public.{name})" in out
    assert "[bold]Findings" not in out  # pgdba's own markup is still applied, not printed


def test_check_fails_on_warning_after_printing_bracketed_names(
    db: TestDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _create_tables_named_like_markup(db)
    store = str(tmp_path / "h.sqlite3")
    code, out = _run(capsys, "check", "--dsn", db.dsn, "--store", store, "--fail-on", "warning")
    assert code == 1
    assert "(public.evil[/red])" in out


def test_index_usage_shows_index_and_table_names_literally(
    db: TestDatabase, capsys: pytest.CaptureFixture[str]
) -> None:
    _create_tables_named_like_markup(db)
    code, out = _run(capsys, "indexes", "usage", "--dsn", db.dsn)
    assert code == 0
    assert "idx[bold]x[/bold]" in out and "public.t[red]hidden" in out


def test_capacity_tables_shows_table_names_literally(
    db: TestDatabase, capsys: pytest.CaptureFixture[str]
) -> None:
    _create_tables_named_like_markup(db)
    code, out = _run(capsys, "capacity", "tables", "--dsn", db.dsn)
    assert code == 0
    for name in MARKUP_NAMES:
        assert f"public.{name}" in out


def test_queries_analyze_shows_query_text_with_brackets_literally(
    db: TestDatabase, capsys: pytest.CaptureFixture[str]
) -> None:
    db.execute("CREATE TABLE orders (id int, tags int[])")
    db.execute("SELECT pg_stat_statements_reset()")
    with db.connect() as conn:
        for _ in range(3):
            conn.execute('SELECT count(*) AS "[/x]" FROM orders')
            conn.execute("SELECT tags[1] FROM orders")
    code, out = _run(capsys, "queries", "analyze", "--dsn", db.dsn, "--threshold", "0", "--cumulative")
    assert code == 0
    assert 'SELECT count(*) AS "[/x]" FROM orders' in out
    assert "SELECT tags[$1] FROM orders" in out


def test_empty_table_message_keeps_brackets(capsys: pytest.CaptureFixture[str]) -> None:
    print_rows([], [Column("name", "name")], "table", title="backups in file:///tmp/[x]", empty="none")
    assert capsys.readouterr().out == "backups in file:///tmp/[x]: none\n"


def test_report_keeps_its_severity_colours_and_prints_text_literally(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")  # Rich writes ANSI styles even though capsys is not a terminal
    finding = Finding(
        "query.slow",
        Severity.CRITICAL,
        "Slow [/x] query",
        "q[i]",
        recommendation="see [b]",
        sql="SELECT tags[i]",
    )
    report = Report([finding], [SkippedCheck("a.b", "needs [red]x")], ["note :fire:"])
    print_report(report, "table")
    out = capsys.readouterr().out
    assert "\x1b[1;31mcritical" in out  # pgdba's own style for a critical finding
    for text in (
        "Slow [/x] query  (q[i])",
        "→ see [b]",
        "SELECT tags[i]",
        "skipped a.b: needs [red]x",
        "note :fire:",
    ):
        assert text in out


@pytest.mark.parametrize(
    ("argv", "shown"),
    [
        (["serve", "--help"], "TOML file of monitored databases ([[database]] name, dsn or dsn_env)"),
        (["schema", "check", "--help"], "or [tool.pgdba.schema] in pyproject.toml"),
    ],
)
def test_help_shows_toml_table_names_in_brackets(
    argv: list[str], shown: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COLUMNS", "250")  # wide enough that the help line is not wrapped
    code, out = _run(capsys, *argv)
    assert code == 0
    assert shown in out


def test_a_table_of_more_than_a_thousand_rows_is_plain_aligned_text(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Rich measured every cell of a 10,400-row index list for 15 s; above LARGE_TABLE_ROWS the rows are
    aligned text, one a line, names still literal."""
    columns = [Column("name", "index"), Column("scans", "scans", "right")]
    rows = [{"name": f"idx_{n}", "scans": n * 1000} for n in range(1200)]
    rows[7]["name"] = "evil[/red]\nsecond line"
    rows[8]["name"] = "x" * 200

    print_rows(rows, columns, "table", title="Index usage")

    lines = capsys.readouterr().out.splitlines()
    assert lines[:3] == [
        "Index usage",
        "index".ljust(80) + "  " + "scans".rjust(9),
        "-" * 80 + "  " + "-" * 9,
    ]
    assert len(lines) == 3 + 1200
    assert lines[3 + 7] == "evil[/red]\\nsecond line".ljust(80) + "  " + "7,000".rjust(9)
    assert lines[3 + 8] == "x" * 79 + "…  " + "8,000".rjust(9)
    assert lines[-1] == "idx_1199".ljust(80) + "  " + "1,199,000"
