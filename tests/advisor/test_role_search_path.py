"""Statements named by the application role's own search_path (`ALTER ROLE app SET search_path = shop,
public`, or `"$user"`), read by pgdba connected as another role.

Before, the advisor planned them with pgdba's own search_path: `lesson` was public's empty table of the same
name (an index advised there), and `grade`, in the tenant role's own schema, was skipped as reading no table;
`queries analyze` gave the lesson query no hint.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg import conninfo, sql

from pgdba.advisor.advise import advise_indexes
from pgdba.advisor.apply import apply_indexes
from pgdba.advisor.role_search_path import qualify_relations, role_search_path
from pgdba.advisor.verify import verify_advice
from pgdba.advisor.workload import queries_from_statements
from pgdba.cli import main
from pgdba.optimizer import analyze_queries
from pgdba.server import load_server_facts
from pgdba.target import Target
from tests.conftest import TestDatabase

LESSONS = "SELECT id, title FROM lesson WHERE course_id = %s ORDER BY position"
GRADES = "SELECT avg(score) FROM grade WHERE student = %s"


@dataclass(frozen=True)
class Roles:
    app: str  # whose sessions search `shop, public` (ALTER ROLE … IN DATABASE … SET)
    tenant: str  # whose sessions search `"$user", public`: its own schema, named after it


@pytest.fixture
def roles(db: TestDatabase) -> Iterator[Roles]:
    """shop.lesson (60,000 rows) and an empty public.lesson of the same name; <tenant>.grade (60,000 rows);
    each role's statements run in its own login session."""
    suffix = uuid.uuid4().hex[:8]
    found = Roles(f"app_{suffix}", f"tenant_{suffix}")
    db.execute(
        sql.SQL(
            "CREATE ROLE {app} LOGIN PASSWORD 'pw'; CREATE ROLE {tenant} LOGIN PASSWORD 'pw';"
            "ALTER ROLE {app} IN DATABASE {db} SET search_path = shop, public;"
            "CREATE SCHEMA shop; CREATE SCHEMA {tenant} AUTHORIZATION {tenant};"
            "GRANT USAGE ON SCHEMA shop TO {app};"
            "CREATE TABLE shop.lesson (id bigint PRIMARY KEY, course_id int NOT NULL, position int NOT NULL,"
            " title text) WITH (autovacuum_enabled = off);"
            "INSERT INTO shop.lesson SELECT g, g % 3000, g % 40, 'lesson ' || g FROM generate_series(1, 60000) g;"
            "CREATE TABLE public.lesson (id bigint, course_id int, position int, title text);"
            "CREATE TABLE {tenant}.grade (id bigint PRIMARY KEY, student int NOT NULL, score int)"
            " WITH (autovacuum_enabled = off);"
            "INSERT INTO {tenant}.grade SELECT g, g % 6000, g % 100 FROM generate_series(1, 60000) g;"
            "GRANT SELECT ON shop.lesson, public.lesson TO {app}; GRANT SELECT ON {tenant}.grade TO {tenant};"
            "ANALYZE shop.lesson, public.lesson, {tenant}.grade"
        )
        .format(
            app=sql.Identifier(found.app), tenant=sql.Identifier(found.tenant), db=sql.Identifier(db.name)
        )
        .as_string()
    )
    db.execute(
        "SELECT pg_stat_statements_reset(0, (SELECT oid FROM pg_database WHERE datname = current_database()), 0)"
    )
    for role, text, times in ((found.app, LESSONS, 30), (found.tenant, GRADES, 10)):
        with psycopg.connect(
            conninfo.make_conninfo(db.dsn, user=role, password="pw", passfile=""), autocommit=True
        ) as conn:
            for value in range(times):
                conn.execute(text, (value,)).fetchall()  # type: ignore[arg-type]
    yield found
    with psycopg.connect(db.dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(found.tenant)))
        for role in (found.app, found.tenant):
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


@pytest.mark.catalog
@pytest.mark.hypopg
def test_statements_are_advised_and_verified_on_the_tables_their_roles_search_path_finds(
    db: TestDatabase, roles: Roles
) -> None:
    with db.target.connect() as conn:
        facts = load_server_facts(conn)
        workload = queries_from_statements(conn, facts, min_calls=2)
        assert {q.role for q in workload if "lesson" in q.sql or "grade" in q.sql} == {
            roles.app,
            roles.tenant,
        }
        advice = advise_indexes(conn, facts, workload)

    chosen = {(r.candidate.schema, r.candidate.table): r.candidate.columns for r in advice.recommendations}
    assert chosen[("shop", "lesson")][0] == "course_id", chosen
    assert chosen[(roles.tenant, "grade")][0] == "student", chosen
    assert ("public", "lesson") not in chosen
    assert advice.search_path == "shop, public" == advice.to_dict()["workload"]["search_path"]
    assert any(
        n.startswith("statements planned with search_path shop, public, as role " + roles.app)
        for n in advice.notes
    )
    assert any(f'the statements of {roles.tenant} ("$user", public)' in n for n in advice.notes), advice.notes
    assert not [s for s in advice.skipped if "grade" in s[0] or "lesson" in s[0]], advice.skipped

    verification = verify_advice(db.target, facts, advice, on_target=False)
    measured = {q["query"]: q["verdict"] for q in verification["queries"]}
    assert len(measured) == 2, verification
    assert all(verdict in ("faster", "too fast to measure") for verdict in measured.values()), verification


@pytest.mark.catalog
def test_the_query_reports_hints_name_the_table_the_roles_search_path_finds(
    db: TestDatabase, roles: Roles
) -> None:
    report = analyze_queries(db.target, threshold_ms=0.001)

    hints = {
        r.stats.query: [h.table for h in r.recommendations if h.action == "create_index"]
        for r in report.recommendations
    }
    [lessons] = [hint for text, hint in hints.items() if "FROM lesson" in text]
    [grades] = [hint for text, hint in hints.items() if "FROM grade" in text]
    assert lessons == ["shop.lesson"]
    assert grades == [f"{roles.tenant}.grade"]
    assert all("shop." not in text for text in hints)  # shown as recorded


@pytest.mark.catalog
@pytest.mark.hypopg
def test_a_search_path_the_user_gave_pgdba_is_kept(db: TestDatabase, roles: Roles) -> None:
    """`options=-c search_path=public` in the DSN: the user's word on what the application searches."""
    target = Target(conninfo.make_conninfo(db.dsn, options="-c search_path=public"))
    with target.connect() as conn:
        facts = load_server_facts(conn)
        workload = queries_from_statements(conn, facts, min_calls=2)
        advice = advise_indexes(conn, facts, workload)
    assert advice.search_path is None
    assert not [n for n in advice.notes if "search_path" in n]
    [(_, reason)] = [s for s in advice.skipped if "FROM grade" in s[0]]
    assert reason.startswith(
        f"no table it names is on the search_path public: grade is in schema {roles.tenant};"
    )
    # the lesson query read as the user said, on public's (empty) lesson: planned, not skipped
    assert not [s for s in advice.skipped if "FROM lesson" in s[0]], advice.skipped
    assert all(r.candidate.schema != "shop" for r in advice.recommendations)


def test_user_in_a_search_path_is_the_roles_name() -> None:
    assert role_search_path('"$user", public', "tenant_1") == '"tenant_1", public'
    assert role_search_path("$user,public", "Tenant") == '"Tenant", public'
    assert role_search_path('"a,b", shop', "x") == '"a,b", shop'


@pytest.mark.catalog
def test_only_unqualified_tables_a_schema_holds_are_qualified(db: TestDatabase) -> None:
    db.execute("CREATE SCHEMA shop; CREATE TABLE shop.lesson (id int); CREATE TABLE shop.course (id int)")
    with db.connect() as conn:
        text = (
            "WITH course AS (SELECT 1 AS id) SELECT * FROM lesson l JOIN course c ON c.id = l.id "
            "JOIN pg_class ON true JOIN public.nothing ON true JOIN missing ON true"
        )
        assert qualify_relations(conn, text, ["shop", "public"]) == (
            'WITH course AS (SELECT 1 AS id) SELECT * FROM "shop"."lesson" l JOIN course c ON c.id = l.id '
            "JOIN pg_class ON true JOIN public.nothing ON true JOIN missing ON true"
        )
        assert qualify_relations(conn, "SELEC lesson", ["shop"]) == "SELEC lesson"


@pytest.mark.catalog
def test_a_workload_whose_tables_are_all_off_the_search_path_names_their_schemas(
    db: TestDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A schema per tenant, the application setting its search_path when it connects: pgdba cannot see it."""
    db.execute("; ".join(f"CREATE SCHEMA t{n}; CREATE TABLE t{n}.users (id int)" for n in range(1, 5)))
    queries = tmp_path / "queries.sql"
    queries.write_text("SELECT * FROM users WHERE id = 5;\n")
    assert main(["advise", "indexes", "--dsn", db.dsn, "--queries", str(queries)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(
        "pgdba: error: no query of the workload can be planned: no table it names is on the"
    )
    assert "users is in schema t1, t2, t3 and 1 more; " in err and "search_path=" in err


@pytest.mark.catalog
def test_apply_builds_a_search_index_whose_operator_class_is_on_the_roles_search_path(
    db: TestDatabase, roles: Roles
) -> None:
    """pg_trgm in the application's schema: the advised SQL names gin_trgm_ops as the application's sessions
    find it, and --apply builds it there (before: `operator class "gin_trgm_ops" does not exist`)."""
    db.execute("CREATE EXTENSION pg_trgm SCHEMA shop")
    with psycopg.connect(
        conninfo.make_conninfo(db.dsn, user=roles.app, password="pw", passfile=""), autocommit=True
    ) as conn:
        for n in range(20):
            conn.execute("SELECT id FROM lesson WHERE title ILIKE %s", (f"%son {n}9%",)).fetchall()
    with db.target.connect() as conn:
        facts = load_server_facts(conn)
        advice = advise_indexes(conn, facts, queries_from_statements(conn, facts, min_calls=2))
    [search] = advice.search_indexes
    assert search.relation == "shop.lesson" and "gin_trgm_ops" in search.sql

    applied = apply_indexes(db.target, advice)

    assert applied["failed"] == [], applied
    assert search.name() in {c["index"] for c in applied["created"]}, applied
