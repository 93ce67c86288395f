"""Row-level security: the application's role (Supabase's `authenticated`) reads a table through its policy
(`user_id = auth.uid()`), which pgdba's own role does not. Costed as written, `… ORDER BY created_at DESC
LIMIT 20` got `(created_at)`, which the application's plan walks for 145 ms filtering by user; read as the
role reads it, the advice leads with the policy's column."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import conninfo, sql

from pgdba.advisor.advise import advise_indexes
from pgdba.advisor.policy_calls import builtin_functions, calls_as_parameters
from pgdba.advisor.row_security import inline_row_security, policy_filter
from pgdba.advisor.verify import verify_advice
from pgdba.advisor.workload import WorkloadQuery, queries_from_statements
from pgdba.cli import main
from pgdba.optimizer import analyze_queries
from pgdba.server import load_server_facts
from tests.conftest import TestDatabase

FEED = "SELECT id, title FROM todos WHERE done = %s ORDER BY created_at DESC LIMIT 20"


@pytest.fixture
def app_role(db: TestDatabase) -> Iterator[str]:
    """A todo table with row security on: a policy lets each user read their own rows (the user id from a
    setting, as Supabase's auth.uid() reads it from the request's JWT), and the role it applies to."""
    role = f"authenticated_{uuid.uuid4().hex[:8]}"
    db.execute(
        sql.SQL(
            "CREATE ROLE {role} LOGIN PASSWORD 'app-pw';"
            "CREATE SCHEMA auth; GRANT USAGE ON SCHEMA auth TO {role};"
            "CREATE FUNCTION auth.uid() RETURNS int LANGUAGE sql STABLE"
            " AS $$ SELECT nullif(current_setting('request.jwt.claim.sub', true), '')::int $$;"
            # (autovacuum off: its ANALYZE of the fresh rows deadlocked with the teardown's DROP OWNED, which
            # revokes on the table and drops its policy)
            "CREATE TABLE todos (id bigserial PRIMARY KEY, user_id int NOT NULL, created_at timestamptz NOT NULL,"
            " title text, done boolean NOT NULL DEFAULT false) WITH (autovacuum_enabled = off);"
            "INSERT INTO todos (user_id, created_at, title)"
            " SELECT g % 5000, now() - g * interval '1 s', 't' FROM generate_series(1, 200000) g;"
            "ALTER TABLE todos ENABLE ROW LEVEL SECURITY;"
            "CREATE POLICY own_todos ON todos FOR SELECT TO {role} USING (user_id = auth.uid());"
            "GRANT SELECT ON todos TO {role}; ANALYZE todos"
        )
        .format(role=sql.Identifier(role))
        .as_string()
    )
    db.execute(
        "SELECT pg_stat_statements_reset(0, (SELECT oid FROM pg_database WHERE datname = current_database()), 0)"
    )
    yield role
    with psycopg.connect(db.dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
        conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def _feeds(dsn: str, times: int) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for user in range(times):
            conn.execute("SELECT set_config('request.jwt.claim.sub', %s, false)", (str(user),))
            assert len(conn.execute(FEED, (False,)).fetchall()) == 20


@pytest.mark.catalog
@pytest.mark.hypopg
def test_a_query_of_a_role_under_row_security_is_advised_as_that_role_reads(
    db: TestDatabase, app_role: str
) -> None:
    _feeds(conninfo.make_conninfo(db.dsn, user=app_role, password="app-pw", passfile=""), 15)
    _feeds(db.dsn, 5)  # the owner reads the same text unfiltered: the busier role's reading counts

    with db.target.connect() as conn:
        facts = load_server_facts(conn)
        workload = queries_from_statements(conn, facts, min_calls=2)
        [feed] = [q for q in workload if "FROM todos" in q.sql]
        assert feed.calls == 20 and feed.role is not None
        advice = advise_indexes(conn, facts, workload)

    [chosen] = advice.recommendations
    assert chosen.candidate.table == "todos" and chosen.candidate.columns[0] == "user_id"
    [query] = chosen.queries
    assert "(SELECT * FROM" in query.sql and "auth.uid()" in query.sql
    [note] = [n for n in advice.notes if "row-level security" in n]
    assert "(public.todos: (user_id = auth.uid()))" in note


@pytest.mark.catalog
def test_the_optimizer_reports_index_hint_is_read_as_the_role_reads(db: TestDatabase, app_role: str) -> None:
    """`queries analyze` (and the dashboard's queries page): the hint for the slow feed leads with the
    policy's column; the statement is shown as recorded."""
    _feeds(conninfo.make_conninfo(db.dsn, user=app_role, password="app-pw", passfile=""), 10)

    report = analyze_queries(db.target, threshold_ms=0.001)

    [feed] = [r for r in report.recommendations if "FROM todos" in r.stats.query]
    assert "(SELECT * FROM" not in feed.stats.query
    [hint] = [r for r in feed.recommendations if r.action == "create_index"]
    assert hint.columns[0] == "user_id", hint


@pytest.mark.catalog
@pytest.mark.hypopg
def test_the_owners_queries_are_advised_as_written(db: TestDatabase, app_role: str) -> None:
    _feeds(db.dsn, 10)

    with db.target.connect() as conn:
        facts = load_server_facts(conn)
        advice = advise_indexes(conn, facts, queries_from_statements(conn, facts, min_calls=2))

    [chosen] = advice.recommendations
    assert chosen.candidate.columns[0] == "created_at"
    assert not [n for n in advice.notes if "row-level security" in n]


@pytest.mark.catalog
def test_the_policies_that_reach_a_role_are_put_in_the_tables_place(db: TestDatabase, app_role: str) -> None:
    """The catalog side on every major: a restrictive policy and one for another command or role added."""
    db.execute(
        sql.SQL(
            "CREATE POLICY not_archived ON todos AS RESTRICTIVE FOR ALL TO {role} USING (title <> 'archived');"
            "CREATE POLICY writers ON todos FOR UPDATE TO {role} USING (true);"
            "CREATE POLICY others ON todos FOR SELECT TO pg_monitor USING (false)"
        )
        .format(role=sql.Identifier(app_role))
        .as_string()
    )
    feed = "SELECT id FROM todos t WHERE done = $1"
    with db.target.connect() as conn:
        queries, notes = inline_row_security(
            conn,
            [WorkloadQuery(feed, role=app_role), WorkloadQuery(feed, role="postgres"), WorkloadQuery(feed)],
        )
        for query in queries:
            conn.execute(f"EXPLAIN {query.sql.replace('$1', 'false')}")  # each text still plans
    assert queries[0].sql == (
        "SELECT id FROM (SELECT * FROM \"todos\" WHERE ((user_id = auth.uid())) AND ((title <> 'archived'::text)))"
        " t WHERE done = $1"
    )
    assert [q.sql for q in queries[1:]] == [feed, feed]  # the owner, and a query of no known role
    assert len(notes) == 1 and app_role in notes[0]


def test_the_policies_combine_as_the_planner_combines_them() -> None:
    assert policy_filter(["(a = 1)"], []) == "(a = 1)"
    assert (
        policy_filter(["(a = 1)", "is_member(t)"], ["(b > 0)"])
        == "(((a = 1)) OR (is_member(t))) AND ((b > 0))"
    )
    assert policy_filter([], ["(b > 0)"]) == "false"


@pytest.mark.catalog
def test_the_table_an_update_or_delete_writes_gets_its_commands_policies_in_its_where(
    db: TestDatabase, app_role: str
) -> None:
    """Its own command's policies always; the SELECT ones when the statement reads a column, an expression
    both hold added once; with another table in FROM the filter's columns name the target. Each text plans."""
    db.execute(
        sql.SQL(
            "CREATE POLICY own_updates ON todos FOR UPDATE TO {role} USING (user_id = auth.uid());"
            "CREATE POLICY keep_pinned ON todos FOR DELETE TO {role} USING (title <> 'pinned');"
            "CREATE TABLE owners (user_id int PRIMARY KEY, name text)"
        )
        .format(role=sql.Identifier(app_role))
        .as_string()
    )
    texts = {
        "UPDATE todos SET done = true WHERE done = $1 RETURNING id": (
            "UPDATE todos SET done = true WHERE ((user_id = auth.uid())) AND ( done = $1 ) RETURNING id"
        ),
        "DELETE FROM todos": "DELETE FROM todos WHERE (title <> 'pinned'::text)",
        "DELETE FROM public.todos AS t WHERE t.done;": (
            "DELETE FROM public.todos AS t WHERE (((title <> 'pinned'::text)) AND ((user_id = auth.uid())))"
            " AND ( t.done);"
        ),
        "UPDATE todos SET title = o.name FROM owners o WHERE o.user_id = todos.user_id AND done = $1": (
            "UPDATE todos SET title = o.name FROM owners o WHERE ((todos.user_id = auth.uid())) AND"
            " ( o.user_id = todos.user_id AND done = $1)"
        ),
        "UPDATE todos SET done = (SELECT true WHERE $1) WHERE id IN (SELECT id FROM todos WHERE done)": (
            "UPDATE todos SET done = (SELECT true WHERE $1) WHERE ((user_id = auth.uid())) AND ( id IN"
            ' (SELECT id FROM (SELECT * FROM "todos" WHERE (user_id = auth.uid())) AS "todos" WHERE done))'
        ),
    }
    with db.target.connect() as conn:
        queries, notes = inline_row_security(conn, [WorkloadQuery(text, role=app_role) for text in texts])
        for query in queries:
            conn.execute(f"EXPLAIN {query.sql.replace('$1', 'false')}")  # each text still plans
    assert [q.sql for q in queries] == list(texts.values())
    assert "public.todos (deleted): ((title <> 'pinned'::text)) AND ((user_id = auth.uid()))" in notes[0]


@pytest.mark.catalog
@pytest.mark.hypopg
def test_a_delete_of_a_role_under_row_security_is_advised_on_the_policys_column(
    db: TestDatabase, app_role: str
) -> None:
    """Costed as written, `DELETE … WHERE done AND created_at < …` got `(created_at)`: measured as the
    role on 500,000 rows, 161 ms a call against 87 ms with no index; `(user_id)` took 0.51 ms."""
    db.execute(
        sql.SQL(
            "CREATE POLICY own_deletes ON todos FOR DELETE TO {role} USING (user_id = auth.uid());"
            "GRANT DELETE ON todos TO {role}"
        )
        .format(role=sql.Identifier(app_role))
        .as_string()
    )
    delete = "DELETE FROM todos WHERE done = %s AND created_at < now() - %s::interval"
    with psycopg.connect(
        conninfo.make_conninfo(db.dsn, user=app_role, password="app-pw", passfile="")
    ) as conn:
        for user in range(10):
            conn.execute("SELECT set_config('request.jwt.claim.sub', %s, false)", (str(user),))
            conn.execute(delete, (False, "1 hour"))
            conn.rollback()

    with db.target.connect() as conn:
        facts = load_server_facts(conn)
        advice = advise_indexes(conn, facts, queries_from_statements(conn, facts, min_calls=2))

    [chosen] = advice.recommendations
    assert chosen.candidate.table == "todos" and chosen.candidate.columns[0] == "user_id"
    [query] = chosen.queries
    assert query.sql.startswith("DELETE FROM todos WHERE ((user_id = auth.uid())) AND (")


@pytest.mark.catalog
@pytest.mark.hypopg
def test_a_file_of_queries_is_read_as_the_role_as_role_names(
    db: TestDatabase, app_role: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    queries = tmp_path / "feed.sql"
    queries.write_text(FEED.replace("%s", "false") + ";\n", encoding="utf-8")
    advise = ["advise", "indexes", "--dsn", db.dsn, "--queries", str(queries), "-f", "json"]

    assert main([*advise, "--as-role", app_role]) == 0
    [as_role] = json.loads(capsys.readouterr().out)["indexes"]
    assert main(advise) == 0
    [as_written] = json.loads(capsys.readouterr().out)["indexes"]
    assert as_role["columns"][0] == "user_id" and as_written["columns"][0] == "created_at"

    assert main([*advise, "--as-role", "nobody_here"]) == 2
    assert "--as-role 'nobody_here': no role of that name" in capsys.readouterr().err
    assert main(["advise", "indexes", "--dsn", db.dsn, "--as-role", app_role]) == 2
    assert "--as-role is for --queries FILE" in capsys.readouterr().err


@pytest.mark.catalog
def test_a_security_invoker_view_is_read_through_to_its_tables_policies(
    db: TestDatabase, app_role: str
) -> None:
    """A security_invoker view (15+) reads its tables as the querying role: their policies apply. Any other
    view reads them as its owner, unfiltered, and is left as written."""
    with db.connect() as conn:
        if conn.info.server_version < 150000:
            pytest.skip("security_invoker views are PostgreSQL 15+")
    db.execute(
        "CREATE VIEW my_todos WITH (security_invoker = on) AS SELECT id, title, done FROM todos;"
        "CREATE VIEW all_todos AS SELECT id, title, done FROM todos"
    )
    through = "SELECT id FROM my_todos WHERE done = $1"
    owners = "SELECT id FROM all_todos WHERE done = $1"
    with db.target.connect() as conn:
        queries, notes = inline_row_security(
            conn, [WorkloadQuery(through, role=app_role), WorkloadQuery(owners, role=app_role)]
        )
        for query in queries:
            conn.execute(f"EXPLAIN {query.sql.replace('$1', 'false')}")  # each text still plans
    assert '(SELECT * FROM "todos" WHERE (user_id = auth.uid())) AS "todos"' in queries[0].sql
    assert queries[0].sql.endswith(' AS "my_todos" WHERE done = $1')
    assert queries[1].sql == owners
    assert "public.todos: (user_id = auth.uid())" in notes[0]


@pytest.mark.catalog
@pytest.mark.hypopg
def test_verify_measures_a_policys_query_for_a_sampled_users_rows(db: TestDatabase, app_role: str) -> None:
    """The scratch copy has no auth.uid() (and on the target it is NULL for pgdba's session): the call is
    measured as a value sampled from user_id, as any parameter is."""
    _feeds(conninfo.make_conninfo(db.dsn, user=app_role, password="app-pw", passfile=""), 10)
    with db.target.connect() as conn:
        facts = load_server_facts(conn)
        advice = advise_indexes(conn, facts, queries_from_statements(conn, facts, min_calls=2))

    verification = verify_advice(db.target, facts, advice, on_target=False)

    assert verification["where"] == "scratch copy"
    [feed] = verification["queries"]
    assert "auth.uid()" in feed["query"] and feed["verdict"] == "faster"
    assert len(feed["values"]) == 3  # done, the LIMIT, and the user's id
    assert any(
        note.startswith("auth.uid() bound to a value sampled from the column it is compared with: ")
        for note in verification["notes"]
    )
    assert advice.recommendations[0].measured == "faster"


@pytest.mark.catalog
def test_only_per_session_calls_compared_with_a_column_become_parameters(db: TestDatabase) -> None:
    with db.connect() as conn:
        is_builtin = builtin_functions(conn)
        cases = {
            "SELECT 1 FROM t WHERE user_id = auth.uid() AND done = $1": (
                "SELECT 1 FROM t WHERE user_id = $2 AND done = $1",
                ["auth.uid()"],
            ),
            "SELECT 1 FROM t WHERE tenant = current_setting('app.tenant')::uuid AND at > now()": (
                "SELECT 1 FROM t WHERE tenant = $1::uuid AND at > now()",
                ["current_setting('app.tenant')"],
            ),
            "SELECT 1 FROM t WHERE org = my_org() OR my_org() = parent_org": (
                "SELECT 1 FROM t WHERE org = $1 OR $1 = parent_org",
                ["my_org()"],
            ),
            # built-ins, a call reading a column, one compared with no column: as written
            "SELECT 1 FROM t WHERE at < now() AND k = lower($1) AND a = f(b) AND f() > 0": None,
        }
        for text, expected in cases.items():
            assert calls_as_parameters(text, is_builtin) == (expected or (text, [])), text
