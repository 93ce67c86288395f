"""`pgdba advise indexes --out FILE`: the advice written whole to a Markdown or JSON file (the weekly job of
`pgdba schedule`), the format from the file's suffix; a bad --out is refused before the advisor runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pgdba.cli import main
from tests.conftest import TestDatabase

SCHEMA = """
CREATE TABLE lessons (id int PRIMARY KEY, course_id int NOT NULL, title text NOT NULL)
  WITH (autovacuum_enabled = off);
INSERT INTO lessons SELECT g, g % 500, 'lesson ' || g FROM generate_series(1, 50000) g;
ANALYZE lessons;
"""
QUERY = "SELECT id, title FROM lessons WHERE course_id = $1"


@pytest.fixture
def workload(db: TestDatabase, tmp_path: Path) -> Path:
    db.execute(SCHEMA)
    path = tmp_path / "workload.sql"
    path.write_text(QUERY + ";\n")
    return path


def test_the_advice_goes_to_a_markdown_or_json_file_by_its_suffix(
    db: TestDatabase, workload: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    markdown = tmp_path / "advice.md"
    args = ["advise", "indexes", "--dsn", db.dsn, "--queries", str(workload)]
    assert main([*args, "--out", str(markdown)]) == 0
    assert capsys.readouterr().out == f"wrote {markdown}: 1 to create, 0 search indexes, 0 to drop\n"
    text = markdown.read_text(encoding="utf-8")
    assert text.startswith("#") and "lessons_course_id" in text and "CREATE INDEX CONCURRENTLY" in text
    as_json = tmp_path / "advice.json"
    assert main([*args, "--out", str(as_json), "--format", "json"]) == 0
    data = json.loads(as_json.read_text(encoding="utf-8"))
    assert [i["columns"][0] for i in data["indexes"]] == ["course_id"] and data["emit"]["sql"]


@pytest.mark.parametrize(
    ("out", "fmt", "error"),
    [
        ("advice.txt", None, "use a .md or .json file name"),
        ("advice.md", "json", "is a markdown file name but --format is json"),
        ("missing/advice.md", None, "cannot write --out file"),
    ],
)
def test_a_bad_out_file_is_refused_before_the_advisor_runs(
    db: TestDatabase,
    workload: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    out: str,
    fmt: str | None,
    error: str,
) -> None:
    args = ["advise", "indexes", "--dsn", db.dsn, "--queries", str(workload), "--out", str(tmp_path / out)]
    assert main([*args, *(["--format", fmt] if fmt else [])]) == 2
    captured = capsys.readouterr()
    assert error in captured.err and captured.out == ""
    assert len(captured.err.strip().splitlines()) == 1
