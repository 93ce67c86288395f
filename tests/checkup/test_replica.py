"""On a streaming replica the check-up, `indexes unused` and `maintenance` judge nothing by the replica's own
activity counters: its index scans are only its own reads (an index the primary scans shows 0 there), and
its tables show no VACUUM, ANALYZE, dead row or change, which all happen on the primary."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from pgdba.checks.indexes import UNUSED_ON_REPLICA
from pgdba.checkup import REPLICA_COUNTERS, run_checkup
from pgdba.cli import main
from pgdba.embedded import EmbeddedCluster
from pgdba.errors import NotAvailable
from pgdba.maintenance import (
    ON_REPLICA,
    MaintenanceItem,
    MaintenancePlan,
    apply_maintenance,
    maintenance_plan,
)
from pgdba.target import resolve_target
from tests.clusters import own_cluster
from tests.standby import standby_of, wait_for_replay

REPLICA_SKIPPED = {
    "index.unused": UNUSED_ON_REPLICA,
    "table.vacuum_overdue": REPLICA_COUNTERS,
    "table.analyze_overdue": REPLICA_COUNTERS,
    "table.dead_tuples": REPLICA_COUNTERS,
}

SCHEMA = """
CREATE TABLE lesson (id int PRIMARY KEY, position int NOT NULL, title text);
INSERT INTO lesson SELECT g, g % 1000, repeat('x', 50) FROM generate_series(1, 50000) AS g;
CREATE INDEX lesson_position_idx ON lesson (position);
ALTER TABLE lesson SET (autovacuum_enabled = off);
DELETE FROM lesson WHERE id % 2 = 0;
"""


@pytest.fixture(scope="module")
def replica() -> Iterator[tuple[EmbeddedCluster, EmbeddedCluster]]:
    """(primary, standby): the primary's `app` database has a table with an index it scans, dead rows and
    no ANALYZE, all replayed on the standby."""
    with own_cluster("replica-primary") as primary:
        with psycopg.connect(primary.dsn(), autocommit=True) as conn:
            conn.execute("CREATE DATABASE app")
        with psycopg.connect(primary.dsn("app"), autocommit=True) as conn:
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)  # type: ignore[call-overload]
            for position in range(20):  # the primary scans the index: it is not unused
                conn.execute("SELECT count(*) FROM lesson WHERE position = %s", (position,))
        with standby_of(primary) as standby:
            wait_for_replay(primary, standby)
            yield primary, standby


@pytest.mark.catalog
def test_checkup_on_a_replica_skips_the_checks_of_its_own_activity_counters(
    replica: tuple[EmbeddedCluster, EmbeddedCluster],
) -> None:
    primary, standby = replica
    on_standby = run_checkup(resolve_target(standby.dsn("app")), only=set(REPLICA_SKIPPED))
    assert on_standby.facts is not None and on_standby.facts.in_recovery
    assert on_standby.report.findings == []
    assert {s.check: s.reason for s in on_standby.report.skipped} == REPLICA_SKIPPED
    on_primary = run_checkup(resolve_target(primary.dsn("app")), only=set(REPLICA_SKIPPED))
    assert not {s.reason for s in on_primary.report.skipped} & set(REPLICA_SKIPPED.values())
    # the primary's own counters do show what the table needs
    assert {"table.dead_tuples", "table.analyze_overdue"} <= {f.code for f in on_primary.report.findings}


@pytest.mark.catalog
def test_whole_checkup_on_a_replica_names_the_replica_checks_skipped(
    replica: tuple[EmbeddedCluster, EmbeddedCluster], capsys: pytest.CaptureFixture[str]
) -> None:
    _, standby = replica
    assert main(["check", "--dsn", standby.dsn("app"), "-f", "json"]) in (0, 1)
    out = capsys.readouterr().out
    assert "Never analysed" not in out and "Unused index" not in out and "DROP INDEX" not in out
    assert UNUSED_ON_REPLICA in out and REPLICA_COUNTERS in out


@pytest.mark.catalog
def test_maintenance_on_a_replica_plans_nothing_and_apply_refuses(
    replica: tuple[EmbeddedCluster, EmbeddedCluster], capsys: pytest.CaptureFixture[str]
) -> None:
    _, standby = replica
    plan = maintenance_plan(resolve_target(standby.dsn("app")))
    assert plan.items == [] and plan.not_planned == ON_REPLICA
    assert main(["maintenance", "--dsn", standby.dsn("app")]) == 0
    assert ON_REPLICA in " ".join(capsys.readouterr().out.split())
    assert main(["maintenance", "--dsn", standby.dsn("app"), "--apply"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # no VACUUM announced, none run
    assert captured.err.strip().splitlines() == [f"pgdba: error: {ON_REPLICA}"]


@pytest.mark.catalog
def test_indexes_unused_on_a_replica_says_why_it_judges_none(
    replica: tuple[EmbeddedCluster, EmbeddedCluster], capsys: pytest.CaptureFixture[str]
) -> None:
    _, standby = replica
    assert main(["indexes", "unused", "--dsn", standby.dsn("app"), "--min-stats-age-days", "0"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.strip().splitlines() == [f"pgdba: error: {UNUSED_ON_REPLICA}"]


@pytest.mark.catalog
def test_vacuum_of_tables_listed_by_name_is_refused_on_a_replica(
    replica: tuple[EmbeddedCluster, EmbeddedCluster],
) -> None:
    """The API's POST names its tables: a plan made of them is refused too, before any VACUUM."""
    _, standby = replica
    listed = MaintenancePlan([MaintenanceItem("public", "lesson")])
    with pytest.raises(NotAvailable, match="a replica"):
        apply_maintenance(resolve_target(standby.dsn("app")), listed, announce=pytest.fail)
    assert listed.items[0].status == "planned" and not listed.applied
