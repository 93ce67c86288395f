"""Names from the database reach Markdown as text: no raw HTML, no broken list item, table row or code span,
and fix SQL in a fenced block that runs as shown."""

from __future__ import annotations

from pathlib import Path

import pytest
from markdown_it import MarkdownIt
from markdown_it.token import Token
from psycopg import sql

from pgdba.cli import main
from pgdba.cli.alerts_cmd import _format_value
from pgdba.findings import Finding, Report, Severity, SkippedCheck
from pgdba.render import Column, markdown_table, md_code, md_fenced, md_text, report_markdown, visible_text
from tests.conftest import TestDatabase

HOSTILE_NAMES = ("tbl|pipe\nnl", "<img src=x onerror=alert(1)>", "t`back`", "s[bold]x[/bold].t``back```")
RAW_HTML = ("<img", "<b>")


def _parser() -> MarkdownIt:
    # html=True: a name that got through unescaped would come out as raw HTML, which the test looks for.
    return MarkdownIt("commonmark", {"html": True}).enable("table")


def _tokens(markdown: str) -> list[Token]:
    return _parser().parse(markdown)


def _inline_children(tokens: list[Token]) -> list[Token]:
    return [child for t in tokens if t.type == "inline" for child in t.children or []]


def _rendered_text(inline: Token) -> str:
    return "".join(child.content for child in inline.children or [] if child.type == "text")


def _code_spans(markdown: str) -> list[str]:
    return [t.content for t in _inline_children(_tokens(markdown)) if t.type == "code_inline"]


def _assert_no_raw_html(markdown: str) -> None:
    tokens = _tokens(markdown)
    assert not [t for t in tokens if t.type == "html_block"]
    assert not [t for t in _inline_children(tokens) if t.type == "html_inline"]
    html = _parser().render(markdown)
    for raw in RAW_HTML:
        assert raw not in html


def _finding(name: str) -> Finding:
    return Finding(
        "table.no_primary_key",
        Severity.WARNING,
        f"No primary key on {name}",
        f"public.{name}",
        recommendation=f"add one to <b>{name}</b>",
        sql=sql.SQL("ALTER TABLE {} ADD PRIMARY KEY (id)")
        .format(sql.Identifier("public", name))
        .as_string(None),
    )


def test_visible_text_writes_control_characters_as_escapes() -> None:
    assert visible_text("tbl|pipe\nnl") == "tbl|pipe\\nnl"
    assert visible_text("a\\nb\r\t\x00\u2028") == "a\\\\nb\\r\\t\\x00\\u2028"


@pytest.mark.parametrize("name", [*HOSTILE_NAMES, "```", " `x` ", "a\\b", "_x_ *y* [l](javascript:x)"])
def test_inline_code_shows_the_name_on_one_line(name: str) -> None:
    markdown = f"- object {md_code(name)} here"
    assert len(markdown.splitlines()) == 1
    assert _code_spans(markdown) == [visible_text(name)]
    _assert_no_raw_html(markdown)


@pytest.mark.parametrize(
    "name",
    [
        *HOSTILE_NAMES,
        "# heading",
        "1. item",
        "- item",
        "    indented",
        "a\\b",
        "> quote",
        "<1@x.y>",
        "<https://x.y>",
        "&amp; &#60; &x",
        "</b>",
    ],
)
def test_text_renders_as_the_visible_name_in_one_paragraph(name: str) -> None:
    markdown = f"- {md_text(name)}"
    tokens = _tokens(markdown)
    assert [t.type for t in tokens if t.nesting == 1] == [
        "bullet_list_open",
        "list_item_open",
        "paragraph_open",
    ]
    children = _inline_children(tokens)
    assert [c.type for c in children] == ["text"] * len(children)  # no code, emphasis, link or HTML
    assert "".join(c.content for c in children) == visible_text(name).replace(" " * 4, "    ")


def test_table_keeps_one_row_per_name_and_each_cell_whole() -> None:
    rows = [{"name": name, "size": 1} for name in HOSTILE_NAMES]
    markdown = markdown_table(rows, [Column("name", "name"), Column("size", "size", "right")])
    assert len(markdown.splitlines()) == 2 + len(HOSTILE_NAMES)
    tokens = _tokens(markdown)
    assert sum(t.type == "tr_open" for t in tokens) == 1 + len(HOSTILE_NAMES)
    cells = [_rendered_text(t) for t in tokens if t.type == "inline"][2:]
    assert cells[::2] == [visible_text(name) for name in HOSTILE_NAMES]
    _assert_no_raw_html(markdown)


def test_fenced_sql_holds_the_statement_exactly() -> None:
    statement = 'ALTER TABLE "t```x" ADD PRIMARY KEY (id);\nDROP INDEX "i\nj";'
    block = md_fenced(statement, "sql", indent=2)
    assert block.splitlines()[0] == "  ````sql"
    fences = [t for t in _tokens(f"- item\n{block}") if t.type == "fence"]
    assert [(f.info, f.content) for f in fences] == [("sql", statement + "\n")]


def test_report_markdown_keeps_one_item_per_finding_with_fenced_fix() -> None:
    report = Report(
        [_finding(name) for name in HOSTILE_NAMES],
        [SkippedCheck("a.b", "needs <b>x</b>\n- not an item")],
        ["note with\n# not a heading"],
    )
    markdown = report_markdown(report)
    tokens = _tokens(markdown)
    assert [t.type for t in tokens if t.type.startswith("heading_open")] == ["heading_open"]
    top_items = [t for t in tokens if t.type == "list_item_open" and t.level == 1]
    assert len(top_items) == len(HOSTILE_NAMES) + 2
    spans = _code_spans(markdown)
    for name in HOSTILE_NAMES:
        assert f"public.{visible_text(name)}" in spans
    fences = [t.content for t in tokens if t.type == "fence" and t.info == "sql"]
    assert sorted(fences) == sorted(f"{_finding(name).sql}\n" for name in HOSTILE_NAMES)
    assert all(sql.Identifier("public", name).as_string(None) in "".join(fences) for name in HOSTILE_NAMES)
    _assert_no_raw_html(markdown)


def test_check_markdown_with_hostile_table_names(
    db: TestDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in HOSTILE_NAMES:
        db.execute(sql.SQL("CREATE TABLE {} (id int)").format(sql.Identifier(name)))  # no primary key
    duplicates = ("<b>x</b>\nidx", "i`back`")
    for index in duplicates:  # the same index twice: `check` proposes a DROP INDEX for one of them
        db.execute(
            sql.SQL("CREATE INDEX {} ON {} (id)").format(
                sql.Identifier(index), sql.Identifier(HOSTILE_NAMES[0])
            )
        )
    code = main(["check", "--dsn", db.dsn, "--store", str(tmp_path / "h.sqlite3"), "-f", "markdown"])
    out = capsys.readouterr().out
    assert code == 0
    tokens = _tokens(out)
    no_pk = [
        t for t in _inline_children(tokens) if t.type == "code_inline" and t.content == "table.no_primary_key"
    ]
    assert len(no_pk) == len(HOSTILE_NAMES)
    spans = _code_spans(out)
    for name in HOSTILE_NAMES:
        assert f"public.{visible_text(name)}" in spans
    fences = "".join(t.content for t in tokens if t.type == "fence" and t.info == "sql")
    dropped = [
        i
        for i in duplicates
        if f"DROP INDEX CONCURRENTLY {sql.Identifier('public', i).as_string(None)};" in fences
    ]
    assert len(dropped) == 1
    _assert_no_raw_html(out)
    assert not any(line.startswith(("nl", "idx")) for line in out.splitlines())  # no newline split a line


def test_weekly_report_markdown_with_hostile_table_names(
    db: TestDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in HOSTILE_NAMES:
        db.execute(sql.SQL("CREATE TABLE {} (id int)").format(sql.Identifier(name)))
    out_file = tmp_path / "r.md"
    code = main(["report", "--dsn", db.dsn, "--store", str(tmp_path / "h.sqlite3"), "--out", str(out_file)])
    capsys.readouterr()
    assert code == 0
    markdown = out_file.read_text()
    spans = _code_spans(markdown)
    for name in HOSTILE_NAMES:
        assert f"public.{visible_text(name)}" in spans
    _assert_no_raw_html(markdown)
    assert not any(line.startswith("nl") for line in markdown.splitlines())


def test_advise_indexes_markdown_lists_queries_after_the_table_and_fences_the_sql(
    db: TestDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name = "tbl|pipe\nnl"
    table = sql.Identifier(name)
    db.execute(sql.SQL("CREATE TABLE {} (id int PRIMARY KEY, org_id int NOT NULL, note text)").format(table))
    db.execute(
        sql.SQL("INSERT INTO {} SELECT g, g % 200, 'n' || g FROM generate_series(1, 20000) g").format(table)
    )
    db.execute(sql.SQL("ANALYZE {}").format(table))
    queries = tmp_path / "workload.sql"
    queries.write_text(sql.SQL("SELECT * FROM {} WHERE org_id = 5;\n").format(table).as_string(None))
    code = main(["advise", "indexes", "--dsn", db.dsn, "--queries", str(queries), "-f", "markdown"])
    out = capsys.readouterr().out
    assert code == 0
    tokens = _tokens(out)
    create_rows = [t for t in tokens if t.type == "tr_open"]
    assert len(create_rows) == 2  # the header and the one index: the query lines are not table rows
    query_items = [t.content for t in tokens if t.type == "inline" and t.content.startswith("index ")]
    assert len(query_items) == 1 and "cost" in query_items[0]
    fences = [t.content for t in tokens if t.type == "fence" and t.info == "sql"]
    assert len(fences) == 1
    assert (
        fences[0].startswith("CREATE INDEX")
        and f"ON {sql.Identifier('public', name).as_string(None)} " in fences[0]
    )
    _assert_no_raw_html(out)


def test_schema_check_markdown_shows_a_hostile_table_name_as_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name = "<img src=x onerror=alert(1)>|t`back`"
    left, right = tmp_path / "a|b.prisma", tmp_path / "right.prisma"
    left.write_text(f'model A {{\n  id Int @id\n  @@map("{name}")\n}}\n')
    right.write_text('model B {\n  id Int @id\n  @@map("b")\n}\n')
    code = main(["schema", "check", f"prisma:{left}", f"prisma:{right}", "-f", "markdown"])
    out = capsys.readouterr().out
    assert code == 1
    tokens = _tokens(out)
    assert sum(t.type == "tr_open" for t in tokens) == 3  # the header and one row per source
    assert f"prisma:{left}" in _code_spans(out)
    items = [_rendered_text(t) for t in tokens if t.type == "inline" and "schema.table" in t.content]
    assert len(items) == 1 and name in items[0]
    _assert_no_raw_html(out)


def test_comparisons_and_ampersands_stay_as_they_are_in_markdown() -> None:
    assert md_text("mean > 500 ms & calls < 10") == "mean > 500 ms & calls < 10"
    table = markdown_table([{"thresholds": "> 500 / > 2000"}], [Column("thresholds", "warn / crit")])
    assert table.splitlines()[-1] == "| > 500 / > 2000 |"
    cells = [_rendered_text(t) for t in _tokens(table) if t.type == "inline"]
    assert cells == ["warn / crit", "> 500 / > 2000"]


def test_alerts_check_markdown_shows_thresholds_as_the_readme_does(
    db: TestDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["alerts", "check", "--dsn", db.dsn, "--store", str(tmp_path / "h.sqlite3"), "-f", "markdown"]
    )
    out = capsys.readouterr().out
    assert code in (0, 1)
    assert "&gt;" not in out and "&lt;" not in out
    assert any(line.startswith("| ") and " | > " in line for line in out.splitlines())
    rows = {line.split(" | ")[1]: line.split(" | ") for line in out.splitlines() if line.startswith("| ")}
    # the thresholds name the rule's unit, which the value may not be printed in (a size in MB against GB)
    assert (
        rows["database_size"][3].endswith(("B", "kB", "MB", "GB"))
        and rows["database_size"][4] == "> 40 / > 60 GB"
    )
    assert rows["restore_test_failed"][4] == ">= 1"  # (a yes / no rule: no unit)
    assert [_format_value(v, "boolean") for v in (0.0, 1.0, None)] == ["no", "yes", "—"]
