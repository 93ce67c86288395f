"""A case-insensitive lookup (`lower(email) = $1`) is served only by an index on the expression: the advisor
proposes `users(lower(email))`, knows such an existing index, and writes it for Drizzle (Prisma cannot)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pgdba.advisor.candidates import Candidate
from pgdba.advisor.orm_patch import drizzle_patch, prisma_patch
from pgdba.advisor.query_columns import columns_by_role
from pgdba.schema import check_schemas
from tests.advisor.helpers import advise, run_bound, sampled, verified
from tests.conftest import TestDatabase

SCHEMA = """
CREATE TABLE users (
    id int PRIMARY KEY,
    email text NOT NULL,
    nick varchar(40) NOT NULL,
    org_id int NOT NULL,
    created_at timestamp NOT NULL
) WITH (autovacuum_enabled = off);  -- no visibility map: plans do not depend on autovacuum's timing
INSERT INTO users
SELECT g, 'User' || g || '@Example.com', 'Nick' || g, g % 100, timestamp '2026-01-01' + g * interval '1 minute'
  FROM generate_series(1, 200000) g;
ANALYZE users;
"""


def labels(db: TestDatabase, queries: list[str]) -> list[str]:
    return [r.candidate.label() for r in advise(db, queries).recommendations]


def test_lower_and_upper_of_a_column_are_uses_of_the_column_through_the_function() -> None:
    uses = columns_by_role(
        "SELECT * FROM users u WHERE lower(u.email) = $1 AND pg_catalog.upper(nick) LIKE 'AB%'"
        " ORDER BY lower(u.email)"
    ).uses
    assert [(str(u.column), u.role.value) for u in uses] == [
        ("lower(users.email)", "equality"),
        ("upper(users.nick)", "range"),
        ("lower(users.email)", "order_by"),
    ]
    # other functions, nested calls and aggregates are not index keys here
    assert (
        columns_by_role("SELECT * FROM users WHERE btrim(email) = $1 OR lower(lower(email)) = $2").uses == []
    )


@pytest.mark.hypopg
def test_a_lowered_lookup_gets_an_expression_index_the_planner_uses(db: TestDatabase) -> None:
    db.execute(SCHEMA)
    advice = advise(db, ["SELECT id FROM users WHERE lower(email) = $1"])
    [recommendation] = advice.recommendations
    assert recommendation.candidate.label() == "public.users(lower(email))"
    assert recommendation.candidate.name() == "users_lower_email_idx"
    assert 'USING btree (lower("email"))' in recommendation.sql
    # no plain users(email): it cannot serve the query
    db.execute(recommendation.candidate.ddl(concurrently=False).as_string(None))
    with db.connect() as conn:
        plan = conn.execute(
            "EXPLAIN SELECT id FROM users WHERE lower(email) = 'user42@example.com'"
        ).fetchall()
    assert "users_lower_email_idx" in str(plan)


@pytest.mark.hypopg
def test_equality_columns_lead_an_expression_key_and_an_expression_equality_leads_a_range(
    db: TestDatabase,
) -> None:
    db.execute(SCHEMA)
    assert labels(db, ["SELECT id FROM users WHERE org_id = $1 AND upper(nick) LIKE 'NICK12%'"]) in (
        ["public.users(upper(nick))"],
        ["public.users(org_id, upper(nick))"],
    )
    [label] = labels(db, ["SELECT id FROM users WHERE lower(email) = $1 AND created_at > $2"])
    assert label.startswith("public.users(lower(email)")


@pytest.mark.hypopg
def test_an_existing_expression_index_serves_the_lookup_and_a_plain_one_does_not(db: TestDatabase) -> None:
    db.execute(SCHEMA)
    db.execute("CREATE INDEX users_email_plain ON users (email)")
    query = "SELECT id FROM users WHERE lower(email) = $1"
    assert labels(db, [query]) == ["public.users(lower(email))"]
    db.execute("CREATE INDEX users_email_lower ON users (lower(email))")
    assert labels(db, [query]) == []
    # a varchar column's expression is printed with a cast, lower((nick)::text): still the same key
    db.execute("CREATE INDEX users_nick_upper ON users (upper(nick))")
    assert labels(db, ["SELECT id FROM users WHERE upper(nick) = $1"]) == []


@pytest.mark.hypopg
def test_verify_measures_the_expression_index_faster(db: TestDatabase) -> None:
    db.execute(SCHEMA)
    advice = advise(db, ["SELECT id FROM users WHERE lower(email) = $1"])
    verification = verified(db, advice)
    [measured] = verification["queries"]
    assert measured["verdict"] == "faster", verification


@pytest.mark.hypopg
def test_a_lookup_lowering_both_sides_is_measured_with_a_sampled_value(db: TestDatabase) -> None:
    """`lower(email) = lower($1)`, the usual case-insensitive login: `$1` takes a value of the column through
    the same function (lower is idempotent), so --verify measures the query instead of leaving it out."""
    db.execute(SCHEMA)
    queries = [
        "SELECT id FROM users WHERE lower(email) = lower($1)",
        "SELECT id FROM users WHERE upper($1) = upper(nick)",
    ]
    advice = advise(db, queries)
    labels = sorted(r.candidate.label() for r in advice.recommendations)
    assert labels == ["public.users(lower(email))", "public.users(upper(nick))"]
    verification = verified(db, advice)
    assert sorted((q["query"], q["verdict"]) for q in verification["queries"]) == sorted(
        (text, "faster") for text in queries
    ), verification
    # another function around the parameter is not the column's: no value is made up for it
    assert columns_by_role("SELECT id FROM users WHERE lower(email) = upper($1)").parameters == {}


MEMBERS = """
CREATE TABLE member (id int PRIMARY KEY, email text NOT NULL, name text NOT NULL, team text NOT NULL);
INSERT INTO member
SELECT g, 'User' || g || '@Example.com', 'Name ' || g, 'Team' || (g % 20) FROM generate_series(1, 200000) g;
"""


@pytest.mark.hypopg
def test_a_lowered_lookup_of_a_unique_column_gets_no_covering_index(db: TestDatabase) -> None:
    """One row per e-mail: covering the login saves one heap fetch. HypoPG's expression index has no
    statistics, so the planner prices the lookup at 0.5 % of the rows (1 000 here), and the covering
    variant, twice the size, looked twenty times cheaper."""
    db.execute(MEMBERS)
    db.execute("VACUUM ANALYZE member")  # all visible: an index-only scan skips the table
    login = advise(db, ["SELECT id, name FROM member WHERE lower(email) = lower($1)"])
    assert [r.candidate.label() for r in login.recommendations] == ["public.member(lower(email))"]
    # a value many rows share (10 000 a team) keeps its covering variant, judged on the estimates
    team = advise(db, ["SELECT id, name FROM member WHERE lower(team) = lower($1)"])
    assert [r.candidate.label() for r in team.recommendations] == [
        "public.member(lower(team)) INCLUDE (id, name, team)"
    ]


LOWER_EMAIL = Candidate("public", "users", ("email",), key_functions=(("email", "lower"),))

DRIZZLE = """import { pgTable, integer, text, index } from "drizzle-orm/pg-core";

export const users = pgTable("users", {
  id: integer("id").primaryKey(),
  email: text("email").notNull(),
});
"""

PRISMA = """datasource db {
  provider = "postgresql"
}

model User {
  id    Int    @id
  email String

  @@map("users")
}
"""


@pytest.mark.catalog
def test_the_drizzle_patch_declares_the_expression_index_the_sql_builds(
    db: TestDatabase, tmp_path: Path
) -> None:
    db.execute("CREATE TABLE users (id integer PRIMARY KEY, email text NOT NULL)")
    db.execute(LOWER_EMAIL.ddl(concurrently=False).as_string(None))
    schema = tmp_path / "schema.ts"
    schema.write_text(DRIZZLE)
    result = drizzle_patch(schema, [LOWER_EMAIL])
    assert result.unmapped == []
    assert 'index("users_lower_email_idx").on(sql`lower(${t.email})`)' in result.new_text
    assert 'import { sql } from "drizzle-orm";' in result.new_text
    schema.write_text(result.new_text)
    check = check_schemas([f"drizzle:{schema}", "live"], dsn=db.dsn)
    assert [f.title for f in check.pairs[0].drift] == []


def test_prisma_cannot_express_an_expression_index_and_says_so(tmp_path: Path) -> None:
    schema = tmp_path / "schema.prisma"
    schema.write_text(PRISMA)
    result = prisma_patch(schema, [LOWER_EMAIL])
    assert result.new_text == PRISMA
    assert result.unmapped == [
        "public.users(lower(email)): Prisma cannot express INCLUDE / partial / expression indexes; use the SQL"
    ]


@pytest.mark.catalog
def test_a_parameter_compared_with_a_lowered_column_is_sampled_lowered(db: TestDatabase) -> None:
    db.execute(SCHEMA)
    text = "SELECT id FROM users WHERE lower(email) = $1 AND upper(nick) LIKE $2"
    with db.target.connect() as conn:
        bound = sampled(conn, "users", text)
        email, nick = bound.values
        assert email == email.lower() and email.startswith("user") and email.endswith("@example.com")
        assert nick == nick.upper() and nick.startswith("NICK") and nick.endswith("%")
        [row] = run_bound(conn, bound, text.replace("SELECT id", "SELECT count(*)", 1))
        assert row[0] >= 1  # the sampled values find rows, as the application's would
