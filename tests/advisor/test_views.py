"""Queries through views: the advisor sees the base tables and the columns filtered through the view."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pgdba.advisor.query_columns import columns_by_role
from pgdba.advisor.views import expand_views
from pgdba.cli import main
from tests.advisor.helpers import advise
from tests.conftest import TestDatabase

SCHEMA = """
CREATE TABLE events (id int PRIMARY KEY, user_id int NOT NULL, kind text NOT NULL,
                     created_at timestamptz NOT NULL, payload text);
INSERT INTO events
SELECT g, g % 5000, (ARRAY['click', 'view', 'buy'])[1 + g % 3],
       timestamptz '2024-01-01' + g * interval '1 minute', md5(g::text)
  FROM generate_series(1, 60000) g;
CREATE SCHEMA reporting;
CREATE VIEW reporting."Recent Clicks" AS
SELECT e.user_id AS uid, e.created_at, e.payload FROM events e WHERE e.kind = 'click';
CREATE VIEW clicks_of_users AS SELECT c.uid, c.created_at FROM reporting."Recent Clicks" c;
CREATE VIEW events_per_user AS SELECT user_id, count(*) AS n FROM events GROUP BY user_id;
ANALYZE;
"""


@pytest.fixture
def views(db: TestDatabase) -> TestDatabase:
    db.execute(SCHEMA)
    return db


@pytest.mark.catalog
def test_views_on_views_are_replaced_by_their_bodies(views: TestDatabase) -> None:
    with views.target.connect() as conn:
        text = expand_views(conn, "SELECT * FROM clicks_of_users WHERE uid = $1")
        # both views are gone from FROM (their names stay as aliases)
        assert "FROM clicks_of_users" not in text and 'FROM reporting."Recent Clicks"' not in text
        assert 'AS "clicks_of_users"' in text and "FROM events e" in text and "$1" in text
        # the expanded text is the same query: it runs and returns what the view returns
        direct = conn.execute("SELECT count(*) FROM clicks_of_users WHERE uid = 7").fetchone()
        expanded = expand_views(conn, "SELECT count(*) FROM clicks_of_users WHERE uid = 7")
        assert conn.execute(expanded).fetchone() == direct and direct is not None and direct[0] > 0
        # a WITH query of the same name is not a view; a plain table stays as written
        cte = "WITH clicks_of_users AS (SELECT 1 AS uid) SELECT * FROM clicks_of_users"
        assert expand_views(conn, cte) == cte
        assert (
            expand_views(conn, "SELECT * FROM events e WHERE e.id = 1")
            == "SELECT * FROM events e WHERE e.id = 1"
        )
        # a view written through stays the target; a view it reads from is expanded
        update = "UPDATE clicks_of_users SET uid = 1 WHERE uid IN (SELECT uid FROM clicks_of_users)"
        expanded = expand_views(conn, update)
        assert expanded.startswith("UPDATE clicks_of_users SET") and "FROM clicks_of_users" not in expanded


@pytest.mark.catalog
@pytest.mark.hypopg
def test_a_filter_through_a_view_gets_the_base_tables_index(views: TestDatabase) -> None:
    advice = advise(
        views,
        ['SELECT * FROM reporting."Recent Clicks" r WHERE r.uid = $1 ORDER BY created_at DESC LIMIT 20'],
    )
    assert advice.skipped == []
    chosen = [(r.candidate.table, r.candidate.columns) for r in advice.recommendations]
    assert chosen and chosen[0][0] == "events" and chosen[0][1][0] == "user_id"
    assert advice.relative_cost < 0.2


@pytest.mark.catalog
@pytest.mark.hypopg
def test_a_filter_on_an_aggregating_views_output_proposes_nothing_for_it(views: TestDatabase) -> None:
    # `n` is a count: no index on events serves `n > $1`; the group key is read in full anyway
    text = "SELECT * FROM events_per_user WHERE n > $1"
    advice = advise(views, [text])
    assert advice.queries == 1 and advice.skipped == []
    with views.target.connect() as conn:
        columns = columns_by_role(expand_views(conn, text))
    # the view's body is read (its GROUP BY key), and the filter on its count lands on no table column
    assert [str(c) for c in columns.group_by] == ["events.user_id"]
    assert columns.range == [] and columns.equality == [] and columns.parameters == {}


@pytest.mark.catalog
@pytest.mark.hypopg
def test_verify_measures_a_view_query_on_the_scratch_copy(
    views: TestDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the scratch copy holds the base tables only: the view's body is measured in its place
    queries = tmp_path / "w.sql"
    written = 'SELECT * FROM reporting."Recent Clicks" r WHERE r.uid = $1 ORDER BY created_at DESC LIMIT 20'
    queries.write_text(written + ";\n")
    code = main(
        ["advise", "indexes", "--dsn", views.dsn, "--queries", str(queries), "--verify", "--format", "json"]
    )
    out, _ = capsys.readouterr()
    assert code == 0
    verification = json.loads(out)["verification"]
    assert verification["where"] == "scratch copy"
    (measured,) = verification["queries"]
    assert measured["query"] == written
    assert measured["after_ms"] < measured["before_ms"]
