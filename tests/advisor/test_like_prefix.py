"""`col LIKE 'abc%'`: a btree serves the prefix as a range, under a non-C collation only with a pattern
operator class (text_pattern_ops …), which serves no other range or sort; the advisor proposes the index
PostgreSQL can use, with the literal prefix or with a `$n` the workload sends."""

from __future__ import annotations

import pytest

from pgdba.advisor.candidates import Candidate
from pgdba.advisor.query_columns import columns_by_role, like_prefix
from pgdba.advisor.sampling import ColumnSample
from tests.advisor.helpers import advise, table_info, verified
from tests.conftest import TestDatabase

# the test cluster's default collation is "C"; glibc's built-in C.UTF-8 locale is not "C" to the planner
# (it compares by the locale's rules), as en_US.UTF-8 and every ICU collation are not
SCHEMA = """
CREATE COLLATION pgdba_locale (provider = libc, locale = 'C.UTF-8');
CREATE TABLE users (
    id int PRIMARY KEY,
    email text COLLATE pgdba_locale NOT NULL,
    nick varchar(40) COLLATE pgdba_locale NOT NULL,
    code text NOT NULL,
    org_id int NOT NULL
) WITH (autovacuum_enabled = off);  -- no visibility map: plans do not depend on autovacuum's timing
INSERT INTO users
SELECT g, 'user' || g || '@example.com', 'nick' || g, 'c' || g, g % 100 FROM generate_series(1, 60000) g;
ANALYZE users;
"""


def chosen(db: TestDatabase, queries: list[str]) -> list[str]:
    return [r.candidate.label() for r in advise(db, queries).recommendations]


def test_a_like_pattern_with_a_fixed_start_is_a_range_use_of_its_column() -> None:
    uses = columns_by_role("SELECT id FROM users WHERE email LIKE 'ann%' AND nick NOT LIKE 'x%'").uses
    assert [(str(u.column), u.operator, u.constant) for u in uses] == [("users.email", "LIKE", "'ann%'")]
    assert columns_by_role("SELECT id FROM users WHERE email LIKE '%ann'").uses == []
    assert columns_by_role("SELECT id FROM users WHERE email LIKE $1").parameters[1][1] == "LIKE"
    assert like_prefix("'it''s\\_a%b'") == "it's_a"


@pytest.mark.hypopg
def test_like_on_a_locale_collated_column_gets_a_pattern_operator_class_index(db: TestDatabase) -> None:
    db.execute(SCHEMA)
    advice = advise(db, ["SELECT id FROM users WHERE email LIKE 'user4242%'"])
    [recommendation] = advice.recommendations
    assert recommendation.candidate.keys == (("email", "text_pattern_ops", ""),)
    assert '("email" text_pattern_ops)' in recommendation.sql
    assert recommendation.candidate.name() == "users_email_pattern_idx"
    # the statement builds an index the planner does use for the query
    db.execute(recommendation.candidate.ddl(concurrently=False).as_string(None))
    with db.connect() as conn:
        plan = conn.execute("EXPLAIN SELECT id FROM users WHERE email LIKE 'user4242%'").fetchall()
    assert "users_email_pattern_idx" in str(plan)


@pytest.mark.hypopg
def test_varchar_gets_its_own_pattern_class_and_a_c_collated_column_a_plain_index(db: TestDatabase) -> None:
    db.execute(SCHEMA)
    assert chosen(db, ["SELECT id FROM users WHERE nick LIKE 'nick777%'"]) == [
        "public.users(nick varchar_pattern_ops)"
    ]
    assert chosen(db, ["SELECT id FROM users WHERE code LIKE 'c777%'"]) == ["public.users(code)"]


@pytest.mark.hypopg
def test_equality_columns_lead_and_the_like_column_follows(db: TestDatabase) -> None:
    db.execute(SCHEMA)
    [recommendation] = advise(
        db, ["SELECT id FROM users WHERE org_id = 7 AND email LIKE 'user1%'"]
    ).recommendations
    assert recommendation.candidate.keys[0] == ("org_id", "", "")
    assert ("email", "text_pattern_ops", "") in recommendation.candidate.keys


@pytest.mark.hypopg
def test_a_parameterised_like_is_costed_with_a_sampled_prefix(db: TestDatabase) -> None:
    """pg_stat_statements keeps `LIKE $1`: the generic plan cannot use any index for an unknown pattern, so
    the advisor binds the start of a typical value (pgdba.advisor.sampling) and finds the index."""
    db.execute(SCHEMA)
    advice = advise(db, ["SELECT id FROM users WHERE email LIKE $1"])
    assert [r.candidate.label() for r in advice.recommendations] == ["public.users(email text_pattern_ops)"]


@pytest.mark.hypopg
def test_an_existing_pattern_index_serves_like_and_a_plain_one_does_not(db: TestDatabase) -> None:
    db.execute(SCHEMA)
    db.execute("CREATE INDEX users_email_plain ON users (email)")
    db.execute("ANALYZE users")
    query = "SELECT id FROM users WHERE email LIKE 'user4242%'"
    assert chosen(db, [query]) == ["public.users(email text_pattern_ops)"]
    db.execute("CREATE INDEX users_email_pattern ON users (email text_pattern_ops)")
    assert chosen(db, [query]) == []
    # and the pattern index does not serve a sort by the column: the plain one still does that job
    advice = advise(db, ["SELECT id FROM users ORDER BY email LIMIT 10"])
    assert advice.recommendations == []


@pytest.mark.hypopg
def test_a_pattern_with_a_leading_wildcard_gets_no_index(db: TestDatabase) -> None:
    db.execute(SCHEMA)
    assert chosen(db, ["SELECT id FROM users WHERE email LIKE '%4242@example.com'"]) == []


def test_a_pattern_operator_class_is_only_accepted_on_a_key_column() -> None:
    with pytest.raises(ValueError, match="pattern operator classes"):
        Candidate("public", "users", ("id",), pattern_ops=(("email", "text_pattern_ops"),))
    with pytest.raises(ValueError, match="pattern operator classes"):
        Candidate("public", "users", ("email",), pattern_ops=(("email", "gin_trgm_ops"),))
    widened = Candidate("public", "users", ("email",), pattern_ops=(("email", "text_pattern_ops"),)).extended(
        "id"
    )
    assert widened.keys == (("email", "text_pattern_ops", ""), ("id", "", ""))


@pytest.mark.hypopg
def test_verify_builds_the_pattern_index_on_the_scratch_copy_and_measures_the_like_faster(
    db: TestDatabase,
) -> None:
    """The throwaway copy keeps the column's collation, so the plan with the built index is the plan the
    advice promised (a copy under "C" would use a plain index and prove nothing)."""
    db.execute(SCHEMA)
    db.execute(
        "INSERT INTO users SELECT g, 'member' || g, 'm' || g, 'x' || g, 1 FROM generate_series(60001, 400000) g"
    )
    db.execute("ANALYZE users")
    advice = advise(db, ["SELECT id FROM users WHERE email LIKE 'user4242%'"])
    verification = verified(db, advice)
    [measured] = verification["queries"]
    assert measured["verdict"] == "faster", verification
    assert advice.recommendations[0].measured == "faster"


@pytest.mark.catalog
def test_the_catalog_says_which_operator_class_serves_like_on_each_column(db: TestDatabase) -> None:
    """Read from pg_attribute / pg_collation / pg_database on every supported major (the locale columns
    of the latter two differ by version)."""
    db.execute(SCHEMA)
    db.execute(
        'ALTER TABLE users ADD COLUMN tag char(4) COLLATE pgdba_locale, ADD COLUMN posix text COLLATE "POSIX"'
    )
    with db.target.connect() as conn:
        columns = table_info(conn, "users").columns
    assert {name: info.like_opclass for name, info in columns.items()} == {
        "id": None,
        "email": "text_pattern_ops",
        "nick": "varchar_pattern_ops",
        "code": "",  # the database's default collation is "C" in the test cluster
        "org_id": None,
        "tag": "bpchar_pattern_ops",
        "posix": "",
    }


def test_a_sampled_pattern_matches_no_histogram_bound_as_a_typed_prefix_of_a_unique_column_would() -> None:
    bounds = tuple(f"User{n}@Example.com" for n in range(10000, 99999, 900))
    pattern = ColumnSample(histogram=bounds).like_pattern()
    assert pattern is not None and pattern.endswith("%")
    assert not any(bound.startswith(pattern[:-1]) for bound in bounds)
    median = bounds[len(bounds) // 2]
    assert pattern[:-2] == median[: len(pattern) - 2]  # the typical value's start, its last character moved
    # a start many bounds share is broad: the share of bounds it matches is the right estimate, it is kept
    assert ColumnSample(histogram=tuple(f"Nick{n}" for n in range(10, 100))).like_pattern() == "Nic%"
    # a common value is counted exactly by PostgreSQL: its start is kept
    common = ColumnSample(common=("Anna Meyer", "Ben Smith"), frequencies=(0.6, 0.3))
    assert common.like_pattern() == "Anna %"


@pytest.mark.hypopg
def test_an_autocomplete_with_a_limit_on_a_unique_column_gets_its_pattern_index(db: TestDatabase) -> None:
    """Costed with a prefix cut from a histogram bound, PostgreSQL expected 1 % of the rows to match, the
    LIMIT to stop after a few pages, and no index to help; a typed prefix matches one row."""
    db.execute(SCHEMA)
    advice = advise(db, ["SELECT id, email FROM users WHERE email LIKE $1 LIMIT $2"])
    assert [r.candidate.label() for r in advice.recommendations] == ["public.users(email text_pattern_ops)"]
