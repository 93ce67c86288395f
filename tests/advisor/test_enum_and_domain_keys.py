"""Columns of an enum type (every Prisma enum is one) or of a domain are index keys like any other.

Before, the advisor's catalog judged a column keyable when a default btree operator class was declared for
its own type: an enum's is declared for `anyenum`, a domain's for its base type, so `status = 'PENDING'` on
a Prisma enum never got a key on status (`status = 'PENDING' ORDER BY "runAt"` got `("runAt", status)`),
and neither did a domain over text. Prisma compares an enum with `CAST($1::text AS "JobStatus")`: that `$1` was bound to no
value, and `--verify` left the query unmeasured ("no sample value for a parameter").
"""

from __future__ import annotations

import pytest

from pgdba.advisor.catalog import load_tables, resolve_relations
from tests.advisor.helpers import advise, verified
from tests.conftest import TestDatabase

POLL = (
    'SELECT "public"."Job"."id", "public"."Job"."queue" FROM "public"."Job" '
    'WHERE ("public"."Job"."status" = CAST($1::text AS "public"."JobStatus") '
    'AND "public"."Job"."runAt" <= $2) ORDER BY "public"."Job"."runAt" ASC LIMIT $3 OFFSET $4'
)


@pytest.fixture
def jobs(db: TestDatabase) -> TestDatabase:
    """A Prisma-style job table: an enum status, 0.3 % of the rows PENDING; a domain over text."""
    db.execute("""CREATE TYPE "JobStatus" AS ENUM ('PENDING', 'RUNNING', 'DONE', 'FAILED')""")
    db.execute("CREATE DOMAIN email AS text CHECK (VALUE LIKE '%@%')")
    db.execute("CREATE DOMAIN work_email AS email")  # a domain over a domain
    db.execute(
        """CREATE TABLE "Job" (id bigint PRIMARY KEY, status "JobStatus" NOT NULL, queue text NOT NULL,
           "runAt" timestamp(3) NOT NULL, owner work_email NOT NULL)"""
    )
    db.execute(
        """INSERT INTO "Job"
           SELECT g, CASE WHEN g % 300 = 0 THEN 'PENDING' ELSE 'DONE' END::"JobStatus", 'q' || g % 5,
                  '2026-01-01'::timestamp + g * interval '1 second', 'user' || g % 20000 || '@example.com'
             FROM generate_series(1, 300000) g"""
    )
    db.execute('ANALYZE "Job"')
    return db


@pytest.mark.catalog
def test_enum_and_domain_columns_are_keyable(jobs: TestDatabase) -> None:
    with jobs.target.connect() as conn:
        oids = resolve_relations(conn, {"Job"})
        columns = load_tables(conn, oids.values())[oids["Job"]].columns
    assert (columns["status"].btree_ok, columns["owner"].btree_ok) == (True, True)
    assert columns["owner"].like_opclass is not None  # a domain over text: its base type's LIKE rules


def test_a_literal_enum_filter_gets_its_key_first(jobs: TestDatabase) -> None:
    advice = advise(
        jobs,
        [
            """SELECT id FROM "Job" WHERE status = 'PENDING' ORDER BY "runAt" LIMIT 10""",
            "SELECT id FROM \"Job\" WHERE owner = 'user7@example.com'",
        ],
    )
    keys = {r.candidate.columns for r in advice.recommendations}
    assert ("status", "runAt") in keys or any(
        r.candidate.predicate() == "status = 'PENDING'" for r in advice.recommendations
    ), keys
    assert ("owner",) in keys, keys


def test_prismas_enum_cast_parameter_is_bound_and_measured(jobs: TestDatabase) -> None:
    advice = advise(jobs, [POLL])
    assert advice.recommendations
    verification = verified(jobs, advice)
    [measured] = verification["queries"]
    assert measured["query"] == POLL and measured["after_ms"] < measured["before_ms"], verification
