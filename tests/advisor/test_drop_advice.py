"""The advisor's indexes to drop: partitioned tables' indexes judged whole, young statistics and young
indexes not called unused."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pgdba.advisor.advise import Advice
from pgdba.checkup import run_checkup
from pgdba.cli import main
from pgdba.history.snapshot import INDEXES, index_ages
from pgdba.history.store import open_store
from pgdba.stats.indexes import IndexStats, index_stats
from tests.advisor.helpers import advise
from tests.advisor.test_review_advisor import EVENTS
from tests.checkup.helpers import script
from tests.conftest import TestDatabase
from tests.matrix.stats_visibility import NEEDS_UNSTAMPED_STATS, eventually, publish_stats


def drops_of(advice: Advice) -> dict[str, str]:
    return {d.index.name: d.reason for d in advice.drops}


def part_sizes(db: TestDatabase, parent_index: str) -> tuple[int, int]:
    """(number of leaf parts, their summed size) of a partitioned index."""
    with db.connect() as conn:
        row = conn.execute(
            "SELECT count(*), sum(pg_relation_size(relid)) FROM pg_partition_tree(%s::regclass) WHERE isleaf",
            (parent_index,),
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


@pytest.mark.catalog
@pytest.mark.hypopg
@NEEDS_UNSTAMPED_STATS
def test_an_unused_index_on_a_partitioned_table_is_dropped_whole_without_concurrently(
    db: TestDatabase,
) -> None:
    db.execute(EVENTS)
    advice = advise(db, ["SELECT * FROM other WHERE x = $1"], min_stats_age_days=0)
    [drop] = [d for d in advice.drops if d.index.name == "ev_payload"]
    parts, size = part_sizes(db, "ev_payload")
    assert (drop.reason, parts) == ("unused", 2)
    assert drop.index.size_bytes == size > 0  # the parts hold its pages, not the parent
    assert "2 partitions" in drop.detail
    ddl = drop.ddl().as_string(None)
    assert ddl == 'DROP INDEX IF EXISTS "public"."ev_payload"'  # PostgreSQL refuses CONCURRENTLY here
    with db.connect() as conn:
        conn.execute(ddl)
        left = conn.execute("SELECT count(*) FROM pg_indexes WHERE indexdef LIKE '%(payload)%'").fetchone()
    assert left == (0,)  # the parts went with it


@pytest.mark.catalog
@pytest.mark.hypopg
@NEEDS_UNSTAMPED_STATS
def test_a_partitioned_index_the_workload_plans_use_through_its_parts_is_kept(db: TestDatabase) -> None:
    db.execute(EVENTS)
    advice = advise(db, ["SELECT * FROM ev WHERE payload = $1"], min_stats_age_days=0)
    assert advice.workload_indexes & {"Ev_2024_payload_idx", "ev_2025_payload_idx"}  # plans name the parts
    assert "ev_payload" not in drops_of(advice)


@pytest.mark.catalog
@pytest.mark.hypopg
def test_a_redundant_index_on_a_partitioned_table_is_dropped_whole(db: TestDatabase) -> None:
    db.execute(EVENTS)
    db.execute("CREATE INDEX ev_account ON ev (account_id)")
    db.execute("CREATE INDEX ev_account_created ON ev (account_id, created_at)")
    advice = advise(db, ["SELECT * FROM ev WHERE account_id = $1 AND created_at > $2"])
    [drop] = [d for d in advice.drops if d.index.name == "ev_account"]
    assert (drop.reason, drop.detail) == ("redundant", "its columns lead ev_account_created")
    assert "CONCURRENTLY" not in drop.ddl().as_string(None)


SHOP = """
CREATE TABLE t (id int PRIMARY KEY, a int, b int, c text);
INSERT INTO t SELECT g, g % 100, g % 7, md5(g::text) FROM generate_series(1, 20000) g;
CREATE INDEX t_c ON t (c);
CREATE INDEX t_a ON t (a);
CREATE INDEX t_a_b ON t (a, b);
ANALYZE t;
"""


@pytest.mark.catalog
@pytest.mark.hypopg
@NEEDS_UNSTAMPED_STATS
def test_unused_indexes_are_not_judged_on_statistics_younger_than_a_week(db: TestDatabase) -> None:
    db.execute(SHOP)
    workload = ["SELECT * FROM t WHERE a = $1 AND b = $2"]  # served by t_a_b
    old = advise(db, workload, min_stats_age_days=0)  # the suite's statistics, judged at any age
    assert drops_of(old) == {"t_a": "redundant", "t_c": "unused"}
    db.execute("SELECT pg_stat_reset()")  # the counters start again now
    young = advise(db, workload)  # a week by default: the database's reset (not the server's start) tells
    assert drops_of(young) == {"t_a": "redundant"}  # redundancy does not depend on counters
    assert any(n.startswith("unused indexes are not judged: statistics collected for") for n in young.notes)


@pytest.mark.catalog
@pytest.mark.hypopg
@NEEDS_UNSTAMPED_STATS
def test_an_index_created_after_the_week_old_snapshot_is_not_advised_to_be_dropped(
    db: TestDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db.execute(SHOP)
    store_file = str(tmp_path / "h.sqlite3")
    with open_store(store_file) as store:
        with db.connect() as conn:  # the history saw t_c, t_a and t_a_b 8 days ago
            payload = [ix.to_dict() for ix in index_stats(conn)]
        store.save_snapshot(db.target.key, INDEXES, payload, taken_at=datetime.now(UTC) - timedelta(days=8))
        db.execute("CREATE INDEX t_b_c ON t (b, c)")  # today: it has counted no scans yet
        ages = index_ages(store, db.target.key, datetime.now(UTC))
    # (the suite's statistics, judged at any age)
    without_history = advise(db, ["SELECT * FROM t WHERE a = $1"], min_stats_age_days=0)
    assert drops_of(without_history)["t_b_c"] == "unused"
    advice = advise(db, ["SELECT * FROM t WHERE a = $1"], index_ages=ages, min_stats_age_days=0)
    assert "t_b_c" not in drops_of(advice) and drops_of(advice)["t_c"] == "unused"
    assert advice.drops_not_judged == ["public.t_b_c"]
    assert any("public.t_b_c (created after the index snapshot" in n for n in advice.notes)

    queries = tmp_path / "w.sql"
    queries.write_text("SELECT * FROM t WHERE a = 1;\n")
    args = [
        "advise",
        "indexes",
        "--dsn",
        db.dsn,
        "--queries",
        str(queries),
        "--store",
        store_file,
        "--min-stats-age-days",
        "0",
        "-f",
        "json",
    ]
    assert main(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["drop_not_judged"] == ["public.t_b_c"]
    assert "t_b_c" not in {d["index"].split(".")[-1] for d in report["drop"]}


COVERING = """
CREATE TABLE inc (id serial PRIMARY KEY, a int, b int, c int, d text);
INSERT INTO inc (a, b, c, d) SELECT g % 5000, g % 13, g, md5(g::text) FROM generate_series(1, 100000) g;
CREATE INDEX inc_a_incl_c ON inc (a) INCLUDE (c);
CREATE INDEX inc_a_b ON inc (a, b);
VACUUM ANALYZE inc
"""


@pytest.mark.catalog
@pytest.mark.hypopg
def test_an_include_index_the_plans_scan_index_only_is_not_redundant_to_a_wider_key(db: TestDatabase) -> None:
    script(db, COVERING)
    sums = "SELECT sum(c) FROM public.inc WHERE a BETWEEN 100 AND 1100"
    advice = advise(db, [sums, "SELECT * FROM inc WHERE a = $1 AND b = $2"])
    assert {
        "inc_a_incl_c",
        "inc_a_b",
    } <= advice.workload_indexes  # an index-only scan on it; c is not in inc_a_b
    assert not {"inc_a_incl_c", "inc_a_b"} & set(drops_of(advice))


@pytest.mark.catalog
@pytest.mark.hypopg
def test_an_index_holding_the_include_columns_in_its_key_covers_it(db: TestDatabase) -> None:
    script(db, COVERING)
    db.execute("CREATE INDEX inc_a_incl_b ON inc (a) INCLUDE (b)")
    advice = advise(db, ["SELECT * FROM inc WHERE a = $1 AND b = $2"])
    assert drops_of(advice).get("inc_a_incl_b") == "redundant"  # b is a key column of inc_a_b
    assert drops_of(advice).get("inc_a_incl_c") != "redundant"  # c is in no other index


def stats_of(db: TestDatabase) -> list[IndexStats]:
    with db.connect() as conn:
        return index_stats(conn)


def check_up_drops(db: TestDatabase, *, unused: bool) -> set[str]:
    """The indexes the check-up's duplicate findings say to drop, and its unused ones (counters of any age
    judged) when `unused`."""
    only = {"index.duplicate", "index.unused"} if unused else {"index.duplicate"}
    options = {"index.unused": {"min_size_bytes": 0, "min_stats_age_days": 0}}
    report = run_checkup(db.target, only=only, options=options).report
    return {f.object.removeprefix("public.") for f in report.findings if f.sql.startswith("DROP INDEX")}


@pytest.mark.catalog
@pytest.mark.hypopg
@NEEDS_UNSTAMPED_STATS
def test_of_two_identical_indexes_the_check_up_and_the_advisor_drop_the_same_one(db: TestDatabase) -> None:
    script(db, COVERING)
    db.execute("DROP INDEX inc_a_incl_c")
    # inc_a_b bloated by updates of its keys, its twin built afterwards, compact: the plans pick the twin
    db.execute("UPDATE inc SET b = b + 1 WHERE id % 2 = 0")
    db.execute("CREATE INDEX inc_a_b_twin ON inc (a, b)")
    db.execute("VACUUM ANALYZE inc")
    query = "SELECT * FROM inc WHERE a = $1 AND b = $2"
    # neither scanned yet (and unused indexes not judged): the first by name is kept, by both
    advice = advise(db, [query])
    assert "inc_a_b_twin" in advice.workload_indexes
    assert check_up_drops(db, unused=False) == {"inc_a_b_twin"} == set(drops_of(advice))
    # the application runs on the twin: the unscanned original goes, by both; never both twins
    with db.connect() as app:
        for n in range(5):
            app.execute("SELECT * FROM inc WHERE a = %s AND b = %s", (n, 3))
        publish_stats(app)
    eventually(lambda: {i.index: i.scans for i in stats_of(db)}, lambda s: s.get("inc_a_b_twin", 0) == 5)
    advice = advise(db, [query], min_stats_age_days=0)
    assert check_up_drops(db, unused=True) == {"inc_a_b"} == set(drops_of(advice))


PREFIX = """
CREATE TABLE pre (id serial PRIMARY KEY, a int, c int);
INSERT INTO pre (a, c) SELECT g % 5000, g FROM generate_series(1, 100000) g;
CREATE INDEX pre_a_c ON pre (a, c);
CREATE INDEX pre_a ON pre (a);
VACUUM ANALYZE pre;
"""


@pytest.mark.catalog
@pytest.mark.hypopg
@NEEDS_UNSTAMPED_STATS
def test_an_unscanned_wider_index_stands_in_for_no_prefix_in_use(db: TestDatabase) -> None:
    script(db, PREFIX)
    workload = ["SELECT * FROM pre WHERE id = $1"]  # reads neither
    # neither scanned: the prefix is redundant, by both tools
    assert check_up_drops(db, unused=False) == {"pre_a"} == set(drops_of(advise(db, workload)))
    # the application runs on the prefix: the unscanned wider one goes (unused), never the two
    with db.connect() as app:
        for n in range(5):
            app.execute("SELECT * FROM pre WHERE a = %s", (n,))
        publish_stats(app)
    eventually(lambda: {i.index: i.scans for i in stats_of(db)}, lambda s: s.get("pre_a", 0) == 5)
    assert check_up_drops(db, unused=False) == set()  # young statistics: nothing to drop
    assert check_up_drops(db, unused=True) == {"pre_a_c"}
    assert drops_of(advise(db, workload, min_stats_age_days=0)) == {"pre_a_c": "unused"}
