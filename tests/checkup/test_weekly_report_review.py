"""The weekly report: growth says why it is empty, --format json, code spans in Markdown, the coverage of
the score; and the dashboard's restore-test advice."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from markdown_it import MarkdownIt

from pgdba.api.app import create_app
from pgdba.api.settings import ApiSettings
from pgdba.cli import main
from pgdba.findings import Report, SkippedCheck
from pgdba.render import md_prose, report_markdown
from tests.conftest import TestDatabase


def _markdown_tokens(markdown: str) -> list[object]:
    parser = MarkdownIt("commonmark", {"html": True})
    return [child for t in parser.parse(markdown) if t.type == "inline" for child in t.children or []]


def _code_spans(markdown: str) -> list[str]:
    return [t.content for t in _markdown_tokens(markdown) if t.type == "code_inline"]  # type: ignore[attr-defined]


def test_report_growth_says_the_snapshots_are_too_young_not_missing(
    db: TestDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db.execute("CREATE TABLE course (id int PRIMARY KEY)")
    store = str(tmp_path / "h.sqlite3")
    assert main(["snapshot", "--dsn", db.dsn, "--store", store]) == 0
    assert main(["snapshot", "--dsn", db.dsn, "--store", store]) == 0
    capsys.readouterr()

    assert main(["report", "--dsn", db.dsn, "--store", store, "--out", str(tmp_path / "r.md")]) == 0

    markdown = (tmp_path / "r.md").read_text()
    assert "No earlier table snapshot" not in markdown
    assert "less than 1 h old" in markdown and "2 snapshots in all" in markdown
    assert "pgdba snapshot" in _code_spans(markdown)
    assert main(["report", "--dsn", db.dsn, "--store", store, "--out", str(tmp_path / "r.html")]) == 0
    html = (tmp_path / "r.html").read_text()
    assert "less than 1 h old" in html and "<code>pgdba snapshot</code>" in html


def test_report_format_json_prints_the_apis_document(
    db: TestDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db.execute("CREATE TABLE nopk (v int)")
    db.execute("SELECT count(*) FROM nopk WHERE v = 424242")
    store = str(tmp_path / "h.sqlite3")
    api = TestClient(create_app(ApiSettings(db.target, history_store=store))).get("/api/v1/report").json()

    assert main(["report", "--dsn", db.dsn, "--store", store, "--format", "json"]) == 0

    printed = json.loads(capsys.readouterr().out)
    assert set(printed) >= set(api) and printed["score"]["score"] == api["score"]["score"] == 7.0
    assert [f["code"] for f in printed["findings"]] == [f["code"] for f in api["findings"]]
    assert not any("424242" in q["query"] for q in printed["top_queries"])
    assert printed["growth_notes"]  # no snapshot: it says why growth is empty
    assert api["growth_notes"] == printed["growth_notes"]  # the API document carries them too

    assert main(["report", "--dsn", db.dsn, "--store", store, "--out", str(tmp_path / "r.json")]) == 0
    written = json.loads((tmp_path / "r.json").read_text())
    assert written["diff"]["previous_score"] == 7.0  # the first run was stored for the diff
    assert main(["report", "--dsn", db.dsn, "--out", str(tmp_path / "r.md"), "--format", "json"]) == 2
    assert "is a markdown file name but --format is json" in capsys.readouterr().err


def test_report_headline_shows_how_much_of_the_check_weight_ran(
    db: TestDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = str(tmp_path / "h.sqlite3")
    assert main(["report", "--dsn", db.dsn, "--store", store, "--format", "json"]) == 0
    score = json.loads(capsys.readouterr().out)["score"]
    assert score["coverage"] < 1  # the history-based checks cannot run without earlier snapshots

    assert main(["report", "--dsn", db.dsn, "--store", store, "--out", str(tmp_path / "r.md")]) == 0

    headline = next(line for line in (tmp_path / "r.md").read_text().splitlines() if "Health score" in line)
    expected = f"{score['checks_run']} checks run, {score['coverage']:.0%} of the check weight"
    assert headline == f"## Health score: {score['score']}/10 ({expected})"
    assert main(["report", "--dsn", db.dsn, "--store", store, "--out", str(tmp_path / "r.html")]) == 0
    assert f"({expected})" in (tmp_path / "r.html").read_text()


def test_pgdbas_backticked_commands_render_as_code_and_hostile_names_stay_text() -> None:
    report = Report(
        [],
        [
            SkippedCheck(
                "queries.slow", "pg_stat_statements is not ready: run `pgdba setup pg-stat-statements`"
            )
        ],
        ["table a`<img src=x onerror=alert(1)>`b and `x|y` and a lone ` backtick"],
    )

    markdown = report_markdown(report)

    assert "\\`pgdba setup" not in markdown
    assert _code_spans(markdown) == [
        "queries.slow",
        "pgdba setup pg-stat-statements",
        "<img src=x onerror=alert(1)>",
        "x|y",
    ]
    assert not [t for t in _markdown_tokens(markdown) if t.type == "html_inline"]  # type: ignore[attr-defined]
    assert "<img" not in MarkdownIt("commonmark", {"html": True}).render(markdown).replace("&lt;img", "")
    assert md_prose("# `x`\n- y") == "\\# `x`\\\\n- y"  # no heading, the newline shown as \n


def test_backups_page_advises_a_weekly_restore_test(db: TestDatabase, tmp_path: Path) -> None:
    storage = tmp_path / "backups"
    storage.mkdir()
    settings = ApiSettings(
        db.target, history_store=str(tmp_path / "h.sqlite3"), backup_storage=f"file://{storage}"
    )

    page = TestClient(create_app(settings)).get("/backups").text

    assert 'data-value="none"' in page and "(e.g. weekly)" in page and "daily" not in page
