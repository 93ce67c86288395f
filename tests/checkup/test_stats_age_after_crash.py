"""Index scan counters start again at 0 after a crash or an immediate shutdown, while the database's
pg_stat_database.stats_reset stays NULL (15+): their age is then the server's statistics' start, which
initdb stamps, a clean restart keeps, and the end of crash recovery stamps anew. A replica promoted by a
failover keeps its counters, which counted only its own reads until then. Unused indexes are not judged
on counters younger than a week, however old the database; a healthy old server still is judged."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from pgdba.checks.indexes import StatsAge
from pgdba.checkup import run_checkup
from pgdba.cli import main
from pgdba.embedded import EmbeddedCluster
from pgdba.server import ServerFacts, load_server_facts, server_stats_since_sql
from pgdba.target import resolve_target
from tests.checkup.helpers import find
from tests.clusters import own_cluster
from tests.matrix.stats_visibility import NEEDS_UNSTAMPED_STATS
from tests.standby import standby_of, wait_for_replay

NOW = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.fixture
def cluster() -> Iterator[EmbeddedCluster]:
    """A cluster of its own (this test crashes it) with an `app` database holding an unscanned index."""
    with own_cluster("stats-age") as cluster:
        with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
            conn.execute("CREATE DATABASE app")
        with psycopg.connect(cluster.dsn("app"), autocommit=True) as conn:
            conn.execute("CREATE TABLE lesson (id int PRIMARY KEY, position int NOT NULL)")
            conn.execute("INSERT INTO lesson SELECT g, g FROM generate_series(1, 10000) AS g")
            conn.execute("CREATE INDEX lesson_position_idx ON lesson (position)")
        yield cluster


def facts_of(cluster: EmbeddedCluster) -> ServerFacts:
    with psycopg.connect(cluster.dsn("app")) as conn:
        return load_server_facts(conn)


def crash(cluster: EmbeddedCluster) -> None:
    """`pg_ctl stop -m immediate` (the server is killed, as by a power cut or an OOM kill), then start."""
    cluster._run(
        [str(cluster.bin_dir / "pg_ctl"), "-D", str(cluster.data_dir), "-m", "immediate", "-w", "stop"]
    )
    cluster.start()


@pytest.mark.catalog
@NEEDS_UNSTAMPED_STATS
def test_the_servers_statistics_start_survives_a_clean_restart_and_a_shared_reset_not_a_crash(
    cluster: EmbeddedCluster,
) -> None:
    initdb = facts_of(cluster)
    assert initdb.stats_reset is None and initdb.server_stats_since is not None
    assert initdb.promoted_at is None  # never a standby
    assert initdb.postmaster_start is not None and initdb.server_stats_since <= initdb.postmaster_start
    cluster.restart()
    restarted = facts_of(cluster)
    assert restarted.postmaster_start != initdb.postmaster_start
    assert restarted.server_stats_since == initdb.server_stats_since  # the stats file keeps it
    with psycopg.connect(cluster.dsn(), autocommit=True) as conn:  # a DBA tuning checkpoints
        conn.execute("SELECT pg_stat_reset_shared('bgwriter')")
    assert facts_of(cluster).server_stats_since == initdb.server_stats_since  # the earliest, not the latest
    crash(cluster)
    crashed = facts_of(cluster)
    assert crashed.stats_reset is None  # the database's own reset time tells nothing
    assert crashed.postmaster_start is not None and crashed.server_stats_since is not None
    assert crashed.server_stats_since >= crashed.postmaster_start  # the end of crash recovery


@pytest.mark.catalog
@NEEDS_UNSTAMPED_STATS
def test_after_a_crash_no_index_is_judged_unused(
    cluster: EmbeddedCluster, capsys: pytest.CaptureFixture[str]
) -> None:
    crash(cluster)
    target = resolve_target(cluster.dsn("app"))
    result = run_checkup(target, only={"index.unused"}, options={"index.unused": {"min_size_bytes": 0}})
    assert find(result, "index.unused") == []
    [skipped] = result.report.skipped
    assert skipped.check == "index.unused"
    assert "since the server's statistics began" in skipped.reason and "too young to judge" in skipped.reason
    assert main(["indexes", "unused", "--dsn", cluster.dsn("app"), "-f", "json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "too young to judge unused indexes" in captured.err
    assert "DROP INDEX" not in captured.err
    # the same counters, judged when the caller accepts counters this young: the check itself still works
    judged = run_checkup(
        target,
        only={"index.unused"},
        options={"index.unused": {"min_size_bytes": 0, "min_stats_age_days": 0}},
    )
    assert [f.object for f in find(judged, "index.unused")] == ["public.lesson_position_idx"]


@pytest.mark.catalog
@NEEDS_UNSTAMPED_STATS
def test_after_a_failover_the_promoted_replica_judges_no_index_unused(cluster: EmbeddedCluster) -> None:
    with standby_of(cluster) as standby:
        wait_for_replay(cluster, standby)
        standby._run([str(standby.bin_dir / "pg_ctl"), "-D", str(standby.data_dir), "-w", "promote"])
        facts = facts_of(standby)
        assert not facts.in_recovery and facts.stats_reset is None
        assert facts.promoted_at is not None and facts.server_stats_since is not None
        assert facts.promoted_at >= facts.server_stats_since.replace(microsecond=0)  # its counters are older
        result = run_checkup(
            resolve_target(standby.dsn("app")),
            only={"index.unused"},
            options={"index.unused": {"min_size_bytes": 0}},
        )
    assert find(result, "index.unused") == []
    [skipped] = result.report.skipped
    assert skipped.reason.startswith(
        "statistics collected for 0.0 hours as a primary: this server was promoted"
    )
    assert skipped.reason.endswith("too young to judge unused indexes (wait at least 7 days)")


def test_counters_of_a_replica_promoted_since_count_from_the_promotion() -> None:
    age = StatsAge(None, NOW, server_since=NOW - timedelta(days=400), promoted_at=NOW - timedelta(hours=1))
    assert age.too_young and age.start == NOW - timedelta(hours=1)
    long_ago = StatsAge(NOW - timedelta(days=9), NOW, promoted_at=NOW - timedelta(days=400))
    assert not long_ago.too_young and long_ago.start == NOW - timedelta(days=9)  # a reset since: that counts


def test_a_healthy_old_server_never_reset_is_judged() -> None:
    """NULL stats_reset on a server whose statistics began a year ago (initdb, no crash since)."""
    age = StatsAge(None, NOW, server_since=NOW - timedelta(days=400))
    assert not age.too_young and age.not_judged(week_old_snapshot=False) is None
    assert age.note().startswith("statistics never reset in this database: collected for 9,600.0 hours")


def test_a_database_reset_wins_over_the_servers_start() -> None:
    age = StatsAge(NOW - timedelta(hours=2), NOW, server_since=NOW - timedelta(days=400))
    assert age.too_young and age.start == NOW - timedelta(hours=2)


def test_statistics_of_unknown_age_are_judged_only_with_a_week_old_index_snapshot() -> None:
    age = StatsAge(None, NOW)
    reason = age.not_judged(week_old_snapshot=False)
    assert reason is not None and reason.startswith("statistics have never been reset; their age is unknown")
    assert age.not_judged(week_old_snapshot=True) is None


@pytest.mark.parametrize(
    ("version_num", "views"),
    [
        (130000, ["pg_stat_bgwriter", "pg_stat_archiver"]),
        (140000, ["pg_stat_bgwriter", "pg_stat_archiver", "pg_stat_wal"]),
        (170000, ["pg_stat_bgwriter", "pg_stat_archiver", "pg_stat_wal", "pg_stat_checkpointer"]),
    ],
)
def test_the_servers_statistics_start_reads_the_views_each_major_has(
    version_num: int, views: list[str]
) -> None:
    sql = server_stats_since_sql(version_num)
    assert [
        view
        for view in ("pg_stat_bgwriter", "pg_stat_archiver", "pg_stat_wal", "pg_stat_checkpointer")
        if view in sql
    ] == views
