"""Sampled constants for `$n` parameters: which column each parameter meets, the values pg_stats offers, and
the advisor costing with them where the generic plan misleads."""

from __future__ import annotations

import pytest

from pgdba.advisor.query_columns import columns_by_role
from pgdba.advisor.sampling import BoundQuery, ColumnSample
from pgdba.advisor.whatif import explain_with_values
from tests.advisor.helpers import advise, run_bound, sampled
from tests.conftest import TestDatabase


def test_parameters_are_attributed_to_the_column_they_meet() -> None:
    q = columns_by_role(
        "SELECT * FROM t WHERE $1 < a AND b = $2::int AND c IN ($3, $4) AND d BETWEEN $5 AND $6 "
        "AND lower(e) = $7 AND f = ANY($9) LIMIT $8"
    )
    found = {n: (str(column), operator) for n, (column, operator) in q.parameters.items()}
    assert found == {
        1: ("t.a", ">"),  # `$1 < a` is `a > $1`
        2: ("t.b", "="),
        3: ("t.c", "IN"),
        4: ("t.c", "IN"),
        5: ("t.d", ">="),
        6: ("t.d", "<="),
        7: ("lower(t.e)", "="),  # an expression index's key, sampled lowered
        9: ("t.f", "= ANY"),
    }  # $8 is the LIMIT: not a column's value


def test_typical_value_is_what_a_random_row_holds() -> None:
    skewed = ColumnSample(common=("done", "new", "paid"), frequencies=(0.7, 0.2, 0.1))
    assert skewed.typical() == "done"
    assert skewed.typical(1) == "new"
    # common values cover less than half of the rows: the histogram's median
    spread = ColumnSample(common=("x",), frequencies=(0.01,), histogram=tuple(f"v{i:02}" for i in range(21)))
    assert spread.typical() == "v10"
    assert spread.typical(1) != spread.typical()
    histogram = ColumnSample(histogram=tuple(str(i) for i in range(101)))
    assert histogram.bound("<") == "10"
    assert histogram.bound(">=") == "90"
    assert ColumnSample().sample("=") is None
    assert skewed.sample(">") is None  # common values come in frequency order: no range bound from them
    assert (
        ColumnSample(common=('say "hi" \\o/',), frequencies=(0.9,)).sample("= ANY")
        == '{"say \\"hi\\" \\\\o/"}'
    )


def test_values_are_bound_as_parameters_and_planned_as_constants(db: TestDatabase) -> None:
    db.execute("CREATE TABLE t (id int PRIMARY KEY, a text NOT NULL)")
    # `$1` alone in the select list has no type PostgreSQL can infer (a parameter is refused there): it
    # goes as text, as a literal there reads; `$2` is typed by its place; the `%` is the query's own
    text = "SELECT $1 AS kind, id FROM t WHERE a = $2 AND a NOT LIKE '%x'"
    with db.target.connect() as conn:
        plan = explain_with_values(conn, "VERBOSE, FORMAT JSON", text, ("tag", "it's"))["Plan"]
        assert plan["Output"] == ["'tag'::text", "id"]
        assert plan["Filter"] == "((t.a !~~ '%x'::text) AND (t.a = 'it''s'::text))"  # planned for the value
        # an `= ANY` sample is an array literal PostgreSQL reads back to the very value
        value = 'a "b" \\c, {d}'
        array = ColumnSample(common=(value,), frequencies=(1.0,)).sample("= ANY")
        assert array is not None
        read = BoundQuery("SELECT ($1::text[])[1], cardinality($1::text[])", (array,))
        assert run_bound(conn, read) == [(value, 1)]


SKEWED = """
CREATE TABLE tickets (id int PRIMARY KEY, status text NOT NULL, opened_at timestamptz NOT NULL,
                      body text NOT NULL);
INSERT INTO tickets
SELECT g, CASE WHEN g % 100 = 0 THEN 'open' ELSE 'closed' END,
       timestamptz '2024-01-01' + g * interval '1 minute', repeat(md5(g::text), 4)
  FROM generate_series(1, 100000) g;
ANALYZE tickets;
"""


@pytest.mark.catalog
def test_bound_values_come_from_the_columns_statistics(db: TestDatabase) -> None:
    db.execute(SKEWED)
    text = "SELECT id FROM tickets WHERE status = $1 AND opened_at >= $2 ORDER BY opened_at LIMIT $3"
    with db.target.connect() as conn:
        bound = sampled(conn, "tickets", text)
        status, opened, limit = bound.values
        assert status == "closed"  # 99 % of the rows
        assert limit == "10"
        # about a tenth of the rows are at or after the sampled bound
        row = conn.execute(
            "SELECT count(*) FILTER (WHERE opened_at >= %s::timestamptz)::float / count(*) FROM tickets",
            (opened,),
        ).fetchone()
        assert row is not None and 0.03 < row[0] < 0.2
        run_bound(conn, bound)  # the bound form runs as it is
        text = "SELECT id FROM tickets WHERE status = ANY($1)"
        array = sampled(conn, "tickets", text)
        assert array.values == ('{"closed"}',)
        assert run_bound(conn, array, f"SELECT count(*) FROM ({text}) q") == [(99000,)]


@pytest.mark.catalog
@pytest.mark.hypopg
def test_order_by_limit_parameter_is_costed_with_a_sampled_limit(db: TestDatabase) -> None:
    # the generic plan prices `LIMIT $1` as a tenth of the rows, where walking an index in order looks
    # no cheaper than sorting; with LIMIT 10 the index is plainly the plan
    db.execute(SKEWED)
    advice = advise(db, ["SELECT * FROM tickets ORDER BY opened_at DESC LIMIT $1"])
    assert [(r.candidate.table, r.candidate.columns) for r in advice.recommendations] == [
        ("tickets", ("opened_at",))
    ]
    (effect,) = advice.recommendations[0].queries
    assert effect.costing == "sampled"
    assert effect.cost_after < effect.cost_before / 10
    assert any("sampled from pg_stats" in note for note in advice.notes)
    assert advice.to_dict()["indexes"][0]["queries"][0]["costing"] == "sampled"


@pytest.mark.catalog
@pytest.mark.hypopg
def test_a_generic_plan_that_agrees_is_kept(db: TestDatabase) -> None:
    db.execute(SKEWED)
    advice = advise(db, ["SELECT * FROM tickets WHERE id = $1"])
    assert advice.recommendations == []  # the primary key serves it
    advice = advise(db, ["SELECT body FROM tickets WHERE opened_at = $1"])
    (effect,) = advice.recommendations[0].queries
    assert effect.costing == "generic"


@pytest.mark.catalog
@pytest.mark.parametrize(
    "window",
    [
        "opened_at >= $1 AND opened_at < $2",  # the half-open range of a date filter
        "opened_at < $2 AND opened_at >= $1",
        "opened_at > $1 AND opened_at <= $2",
        "opened_at BETWEEN $1 AND $2",
    ],
)
def test_both_bounds_of_a_range_are_sampled_as_one_range_around_the_median(
    db: TestDatabase, window: str
) -> None:
    # each bound sampled alone lets a tenth of the rows through from its own end: the lower one at the
    # 90th percentile, the upper one at the 10th, an empty range together
    db.execute(SKEWED)
    text = f"SELECT count(*) FROM tickets WHERE {window}"
    with db.target.connect() as conn:
        bound = sampled(conn, "tickets", text)
        low, high = bound.values
        assert low < high  # ISO timestamps of one zone order as text
        ((share,),) = run_bound(conn, bound, f"SELECT ({text})::float / 100000")
        assert 0.05 < share < 0.2


PARTITIONED_LOG = """
CREATE TABLE log (id bigint, course_id int NOT NULL, at timestamptz NOT NULL) PARTITION BY RANGE (at);
CREATE TABLE log_1 PARTITION OF log FOR VALUES FROM ('2024-01-01') TO ('2024-03-01');
CREATE TABLE log_2 PARTITION OF log FOR VALUES FROM ('2024-03-01') TO ('2024-05-01');
CREATE TABLE log_3 PARTITION OF log FOR VALUES FROM ('2024-05-01') TO ('2024-07-01');
INSERT INTO log SELECT g, g % 500, timestamptz '2024-01-01' + g * interval '1 minute'
  FROM generate_series(1, 240000) g;
ANALYZE log;
"""


@pytest.mark.catalog
@pytest.mark.hypopg
def test_a_date_range_on_a_partitioned_table_is_costed_on_the_partitions_it_reads(db: TestDatabase) -> None:
    # an empty sampled range prunes every partition: the query cost nothing and no index could help it
    db.execute(PARTITIONED_LOG)
    query = "SELECT count(*) FROM log WHERE course_id = $1 AND at >= $2 AND at < $3"
    advice = advise(db, [query])
    assert [(r.candidate.table, r.candidate.columns[0]) for r in advice.recommendations] == [
        ("log", "course_id")
    ]
    (effect,) = advice.recommendations[0].queries
    assert effect.costing == "sampled"
    assert effect.cost_before > 1000 > effect.cost_after


@pytest.mark.catalog
def test_a_range_of_days_over_a_week_of_rows_is_never_one_empty_day(db: TestDatabase) -> None:
    # a week of rows: the histogram bounds a tenth apart around the median are 17 hours apart, often the
    # same day once `date()` truncates them, and `date(at) >= d AND date(at) < d` holds no row
    db.execute(
        "CREATE TABLE visits (id int PRIMARY KEY, at timestamp NOT NULL);"
        "INSERT INTO visits SELECT g, timestamp '2024-03-04' + g * interval '6 seconds' "
        "  FROM generate_series(1, 100000) g;"
        "ANALYZE visits"
    )
    text = "SELECT count(*) FROM visits WHERE date(at) >= $1 AND date(at) < $2"
    with db.target.connect() as conn:
        bound = sampled(conn, "visits", text)
        low, high = bound.values
        assert len(low) == len(high) == len("2024-03-04") and low < high
        ((rows,),) = run_bound(conn, bound)
        assert rows > 0
