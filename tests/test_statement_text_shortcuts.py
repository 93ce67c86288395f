"""The cheap readings of a statement text agree with the full ones on what a real server records.

Two shortcuts spare the query pages parsing thousands of texts: a text that can hold no literal is not
scanned (pgdba.statement_text), and whether a statement is the application's is read from the parser's JSON
tree (pgdba.statement_tree). Each must say what the scanner or the Python parse tree says."""

from __future__ import annotations

import psycopg
import pytest

from pgdba.checks.statement_recommendations import is_application_query, parse_statement
from pgdba.statement_text import WITHHELD, holds_no_literal, normalised, scanned
from pgdba.statement_tree import is_application_text, statement_node
from tests.conftest import TestDatabase

# what an application, an ORM, a migration and a monitoring tool send
WORKLOAD = [
    'CREATE TABLE "Lesson" (id bigserial PRIMARY KEY, "courseId" int, "field2" text, title text)',
    "CREATE TABLE audit (id int, note text)",
    'INSERT INTO "Lesson" ("courseId", "field2", title) SELECT g % 7, \'f\' || g, \'t\' FROM generate_series(1, 50) g',
    'SELECT "Lesson"."id", "Lesson"."field2", "Lesson"."title" FROM "public"."Lesson" '
    'WHERE "Lesson"."courseId" = 3 ORDER BY "Lesson"."id" DESC LIMIT 20',
    'SELECT "Lesson"."id" FROM "Lesson" WHERE "courseId" = ANY(ARRAY[1, 2]) /* app=web,user=a@b.c */',
    "-- nightly job\nUPDATE audit SET note = 'x' WHERE id = 4",
    "WITH gone AS (DELETE FROM audit WHERE id < 10 RETURNING id) SELECT count(*) FROM gone",
    "WITH c AS (SELECT relname FROM pg_class) SELECT count(*) FROM c",
    "SELECT n.nspname, c.relname FROM pg_catalog.pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace",
    "SELECT * FROM generate_series(1, 3)",
    "SELECT 1",
    "SELECT $$dollar$$ || E'esc\\n' || x'1F'::int::text",
    'SELECT "it""s" FROM (SELECT 1 AS "it""s") AS s',
    "SELECT .5 + 1e3, a.title FROM \"Lesson\" a WHERE a.title LIKE 'a%'",
    "ALTER TABLE audit ADD COLUMN extra numeric(10, 2) DEFAULT 0.5",
    "VACUUM audit",
]


@pytest.fixture
def recorded_texts(db: TestDatabase) -> list[str]:
    """The texts pg_stat_statements recorded for the workload (its constants as $n), and the same texts as
    sent; each also cut short at every fifth character, as pg_stat_activity keeps a long one."""
    db.execute(
        "SELECT pg_stat_statements_reset(0, (SELECT oid FROM pg_database WHERE datname = current_database()), 0)"
    )
    with db.connect() as conn:
        for statement in WORKLOAD:
            conn.execute(statement)
    with psycopg.connect(db.dsn) as conn:
        rows = conn.execute(
            "SELECT query FROM pg_stat_statements "
            " WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
        ).fetchall()
    texts = [row[0] for row in rows] + WORKLOAD
    assert len(rows) >= len(WORKLOAD)
    return texts + [text[:cut] for text in texts for cut in range(1, len(text), 5)]


def test_a_text_is_not_scanned_only_where_scanning_would_change_nothing(recorded_texts: list[str]) -> None:
    skipped = [text for text in recorded_texts if holds_no_literal(text)]
    # the ORM's SELECT as recorded (constants as $n) is one of them: the shortcut is taken
    assert any(text.startswith('SELECT "Lesson"."id", "Lesson"."field2"') for text in skipped)
    assert [text for text in skipped if normalised(text) != scanned(text)] == []
    # a digit right after a quoted name is a literal; a name cut short is withheld, never shown raw
    assert normalised('SELECT "a"1') == 'SELECT "a"$1'
    assert normalised('SELECT "Lesson"."fie') == WITHHELD
    assert normalised('SELECT "" FROM t') == WITHHELD


def test_the_application_is_told_apart_without_the_python_parse_tree(recorded_texts: list[str]) -> None:
    verdicts = {text: is_application_text(text) for text in recorded_texts}
    assert {v for v in verdicts.values()} == {True, False}
    disagree = [t for t, v in verdicts.items() if v != is_application_query(parse_statement(t))]
    assert disagree == []
    assert verdicts["WITH gone AS (DELETE FROM audit WHERE id < 10 RETURNING id) SELECT count(*) FROM gone"]
    assert not verdicts["WITH c AS (SELECT relname FROM pg_class) SELECT count(*) FROM c"]
    assert not verdicts["SELECT * FROM generate_series(1, 3)"]


def test_the_statement_kind_is_read_without_the_python_parse_tree(recorded_texts: list[str]) -> None:
    """The advisor's write counts keep INSERTs and UPDATEs by it."""
    nodes = {text: statement_node(text) for text in recorded_texts}
    assert {"SelectStmt", "InsertStmt", "UpdateStmt", "CreateStmt", "VacuumStmt", None} <= set(nodes.values())
    for text, node in nodes.items():
        parsed = parse_statement(text)
        assert node == (parsed.statement if parsed is not None else None), text
