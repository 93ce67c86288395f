"""The user's seven Netdata capacity alerts, each driven across its threshold on a real cluster: it fires,
and it resolves when the condition ends."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from pgdba.alerts.check import TABLE_SIZES_KIND
from pgdba.alerts.metrics import sample_disk
from pgdba.alerts.netdata import PluginState, plugin_round
from pgdba.alerts.rules import load_rules
from pgdba.alerts.values import LOCKED_NOTE, RECREATED_NOTE, UNSUMMED_NOTE
from pgdba.cli import main
from pgdba.history.store import HistoryStore
from pgdba.target import Target
from tests.alerts.conftest import SmallCluster, run_check, status_of
from tests.conftest import TestDatabase
from tests.matrix.stats_visibility import eventually, publish_stats

GB = 1024**3


def _database_bytes(db: TestDatabase) -> int:
    with db.connect() as conn:
        row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.catalog
def test_database_size_warns_then_goes_critical_then_resolves_when_the_table_is_dropped(
    db: TestDatabase, store: HistoryStore, rules_file: Callable[[str], Path]
) -> None:
    db.execute(
        "CREATE TABLE filler AS SELECT g AS id, repeat('x', 500) AS pad FROM generate_series(1, 8000) AS g"
    )
    size = _database_bytes(db)
    just_under = (size - 1024**2) / GB  # 1 MB under the current size; the table is about 4.5 MB
    warn_only = rules_file(
        f"[[rule]]\nname = 'database_size'\nwarn = {just_under!r}\ncrit = 1000\nhysteresis = 0\n"
    )
    both = rules_file(
        f"[[rule]]\nname = 'database_size'\nwarn = {just_under!r}\ncrit = {just_under!r}\nhysteresis = 0\n"
    )

    first = status_of(run_check(db.target, store, warn_only), "database_size")
    assert (first.status, first.event) == ("warning", "firing")
    assert first.value is not None and first.value > just_under

    second = status_of(run_check(db.target, store, both), "database_size")
    assert (second.status, second.event) == ("critical", "firing")

    db.execute("DROP TABLE filler")
    third = status_of(run_check(db.target, store, both), "database_size")
    assert (third.status, third.event) == ("ok", "resolved")


@pytest.mark.catalog
def test_default_database_size_thresholds_are_40_and_60_gb(db: TestDatabase, store: HistoryStore) -> None:
    status = status_of(run_check(db.target, store), "database_size")
    assert status.status == "ok"
    assert (status.rule.warn, status.rule.crit) == (40, 60)


@pytest.mark.catalog
def test_behaviorlog_growth_needs_two_snapshots_fires_over_500_mb_per_hour_and_resolves(
    db: TestDatabase, store: HistoryStore, rules_file: Callable[[str], Path]
) -> None:
    # autovacuum off on this table: its visibility/free-space maps would add bytes between quick checks
    db.execute('CREATE TABLE "BehaviorLog" (id bigint, payload text) WITH (autovacuum_enabled = false)')
    rules = rules_file("[[rule]]\nname = 'table_growth'\nwindow = '0s'\n")

    first = status_of(run_check(db.target, store, rules), "table_growth", "public.BehaviorLog")
    assert first.status == "unknown"
    assert "two table_sizes snapshots" in first.note

    db.execute(
        """INSERT INTO "BehaviorLog" SELECT g, repeat('event', 100) FROM generate_series(1, 6000) AS g"""
    )
    grown = status_of(run_check(db.target, store, rules), "table_growth", "public.BehaviorLog")
    assert grown.event == "firing"
    assert grown.status in ("warning", "critical")
    assert grown.value is not None and grown.value > 500
    assert grown.rule.thresholds_for("public.BehaviorLog").warn == 500  # the user's per-table threshold
    assert grown.detail["bytes_now"] - grown.detail["bytes_before"] > 3 * 1024**2

    still = status_of(run_check(db.target, store, rules), "table_growth", "public.BehaviorLog")
    assert (still.status, still.event) == ("ok", "resolved")
    assert still.value == 0


_SURGE = textwrap.dedent(
    """
    import sys, psycopg
    conns = [psycopg.connect(sys.argv[1]) for _ in range(int(sys.argv[2]))]
    print("ready", flush=True)
    sys.stdin.read()
    """
)


def _client_backends(small: SmallCluster) -> int:
    with small.connect() as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'"
        ).fetchone()
    assert row is not None
    return int(row[0]) - 1


@pytest.mark.catalog
def test_connection_surge_from_a_second_process_fires_over_80_percent_and_resolves(
    small_cluster: SmallCluster, store: HistoryStore
) -> None:
    # 20 max_connections - 3 reserved = 17 usable; 14 surge sessions → 82 % (pgdba's own is not counted)
    _wait_for_backends_to_exit(small_cluster)  # sessions of earlier set-up leave the server a moment late
    surge = subprocess.Popen(
        [sys.executable, "-c", _SURGE, small_cluster.dsn, "14"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ},
    )
    try:
        assert surge.stdout is not None and surge.stdout.readline().strip() == "ready"
        during = status_of(run_check(small_cluster.target, store), "connection_usage")
        assert (during.status, during.event) == ("warning", "firing")
        assert during.value is not None and 80 < during.value <= 90
        assert during.detail["usable"] == 17
    finally:
        assert surge.stdin is not None
        surge.stdin.close()
        surge.wait(timeout=30)
    _wait_for_backends_to_exit(small_cluster)
    after = status_of(run_check(small_cluster.target, store), "connection_usage")
    assert (after.status, after.event) == ("ok", "resolved")


def _wait_for_backends_to_exit(small: SmallCluster) -> None:
    """Backends of a closed client leave pg_stat_activity a moment later: poll the server, bounded."""
    with small.connect() as conn:
        conn.execute(
            """
            DO $$
            BEGIN
              FOR i IN 1..200 LOOP
                EXIT WHEN (SELECT count(*) FROM pg_stat_activity
                            WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()) = 0;
                PERFORM pg_sleep(0.05);
              END LOOP;
            END $$
            """
        )


@pytest.mark.catalog
def test_query_slowed_with_pg_sleep_fires_over_1_second_mean_and_resolves(
    db: TestDatabase, store: HistoryStore
) -> None:
    db.execute("CREATE TABLE course (id int)")
    baseline = status_of(run_check(db.target, store), "slow_queries")
    assert baseline.status == "ok"
    with db.connect() as conn:  # an application statement: it reads a user table
        conn.execute("SELECT pg_sleep(%s), count(*) FROM course", (1.05,))
    slow = status_of(run_check(db.target, store), "slow_queries")
    assert (slow.status, slow.event) == ("warning", "firing")
    assert slow.value is not None and slow.value >= 1050
    assert "pg_sleep" in slow.detail["query"]
    after = status_of(run_check(db.target, store), "slow_queries")
    assert (after.status, after.event) == ("ok", "resolved")


_HITS = "DO $$ BEGIN FOR i IN 1..100000 LOOP PERFORM v FROM small WHERE id = 1; END LOOP; END $$"


def _published(watcher: psycopg.Connection, table: str) -> tuple[int, int]:
    """Rows inserted into `table` and its sequential scans, as other sessions see them. Read through stats
    functions on one open session, so watching touches no blocks of the database being measured."""
    row = watcher.execute(
        "SELECT pg_stat_get_tuples_inserted(%s::regclass), pg_stat_get_numscans(%s::regclass)", (table, table)
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


# Each check stores the counters the next one takes its delta from, so a check is never re-run to wait:
# eventually watches the table counters of what was provoked (published with the database block counters
# they add to) and then the check reads once.
@pytest.mark.catalog
def test_cache_misses_from_a_large_scan_with_small_shared_buffers_fire_and_hits_resolve(
    small_cluster: SmallCluster, store: HistoryStore
) -> None:
    with small_cluster.connect() as conn:
        conn.execute("DROP TABLE IF EXISTS big, small")
        conn.execute(
            "CREATE TABLE big AS SELECT g AS id, repeat('x', 200) AS pad FROM generate_series(1, 20000) AS g"
        )
        conn.execute("CREATE TABLE small (id int, v int)")
        conn.execute("INSERT INTO small VALUES (1, 1)")
        # the first check's window runs from the statistics reset and holds the set-up's misses: these hits
        # keep it at ok, so the misses below are a change of level, whatever published when
        conn.execute(_HITS)
        publish_stats(conn)
    with small_cluster.connect() as watcher:
        eventually(lambda: _published(watcher, "big"), lambda c: c[0] == 20000)
        eventually(lambda: _published(watcher, "small"), lambda c: c[1] >= 100000)
        baseline = status_of(run_check(small_cluster.target, store), "cache_hit_ratio")
        assert baseline.status == "ok"
        with small_cluster.connect() as conn:
            conn.execute("SELECT count(*) FROM big")  # 4.6 MB through 128 kB of shared buffers: misses
            publish_stats(conn)
        eventually(lambda: _published(watcher, "big"), lambda c: c[1] >= 1)
        missed = status_of(run_check(small_cluster.target, store), "cache_hit_ratio")
        assert missed.event == "firing"
        assert missed.status in ("warning", "critical")
        assert missed.value is not None and missed.value < 90
        with small_cluster.connect() as conn:  # one page read 100 000 times: hits
            conn.execute(_HITS)
            publish_stats(conn)
        eventually(lambda: _published(watcher, "small"), lambda c: c[1] >= 200000)
        hits = status_of(run_check(small_cluster.target, store), "cache_hit_ratio")
    assert (hits.status, hits.event) == ("ok", "resolved")
    assert hits.value is not None and hits.value > 95


@pytest.mark.catalog
def test_disk_usage_of_the_data_directory_fires_when_a_file_fills_it_and_resolves_when_removed(
    db: TestDatabase, store: HistoryStore, rules_file: Callable[[str], Path]
) -> None:
    data_dir = db.cluster.data_dir
    before = status_of(run_check(db.target, store), "disk_usage")
    assert before.value is not None and before.detail["path"] == str(data_dir)
    used, avail = before.detail["used_bytes"], before.detail["avail_bytes"]
    filler_bytes = 1024**3  # allocated, not written: instant, and far above other processes' noise
    filler_percent = 100 * filler_bytes / (used + avail)
    threshold = before.value + filler_percent / 2
    rules = rules_file(f"[[rule]]\nname = 'disk_usage'\nwarn = {threshold!r}\ncrit = 100\nhysteresis = 0\n")
    filler = db.cluster.data_root / "disk-filler"
    with filler.open("wb") as handle:
        os.posix_fallocate(handle.fileno(), 0, filler_bytes)
    try:
        full = status_of(run_check(db.target, store, rules), "disk_usage")
        assert (full.status, full.event) == ("warning", "firing")
    finally:
        filler.unlink()
    freed = status_of(run_check(db.target, store, rules), "disk_usage")
    assert (freed.status, freed.event) == ("ok", "resolved")


@pytest.mark.catalog
def test_disk_usage_is_not_measurable_when_the_server_is_elsewhere(db: TestDatabase) -> None:
    elsewhere = Target(f"host=db.example port=5432 dbname={db.name} user=postgres")
    with db.target.connect() as conn:
        sample = sample_disk(conn, elsewhere)
    assert sample.usage_percent is None
    assert sample.reason == "not measurable: the server runs on db.example, not this machine"


@pytest.mark.catalog
def test_a_firing_table_that_is_dropped_resolves(
    db: TestDatabase, store: HistoryStore, rules_file: Callable[[str], Path]
) -> None:
    db.execute("CREATE TABLE audit (id bigint, payload text) WITH (autovacuum_enabled = false)")
    rules = rules_file("[[rule]]\nname = 'table_growth'\nwindow = '0s'\n")
    run_check(db.target, store, rules)
    db.execute("INSERT INTO audit SELECT g, repeat('event', 100) FROM generate_series(1, 6000) AS g")
    assert status_of(run_check(db.target, store, rules), "table_growth", "public.audit").event == "firing"
    db.execute("DROP TABLE audit")
    gone = status_of(run_check(db.target, store, rules), "table_growth", "public.audit")
    assert (gone.status, gone.event, gone.note) == ("ok", "resolved", "no longer present")
    after = run_check(db.target, store, rules)
    assert not [s for s in after.statuses if s.object == "public.audit"]


@pytest.mark.catalog
def test_growth_uses_a_pgdba_snapshot_of_tables_as_the_baseline(
    db: TestDatabase, store: HistoryStore, tmp_path: Path
) -> None:
    db.execute('CREATE TABLE "BehaviorLog" (id bigint, payload text) WITH (autovacuum_enabled = false)')
    assert (
        main(["snapshot", "--dsn", db.dsn, "--store", str(store.path)]) == 0
    )  # the check-up's "tables" kind
    db.execute(
        """INSERT INTO "BehaviorLog" SELECT g, repeat('event', 100) FROM generate_series(1, 6000) AS g"""
    )
    grown = status_of(run_check(db.target, store), "table_growth", "public.BehaviorLog")
    assert grown.event == "firing"
    assert grown.value is not None and grown.value > 500


@pytest.mark.catalog
def test_a_table_locked_access_exclusive_has_no_size_stored_and_no_growth(
    db: TestDatabase, store: HistoryStore, rules_file: Callable[[str], Path]
) -> None:
    db.execute("CREATE TABLE steady (id int)")
    db.execute(
        "CREATE TABLE rebuilt AS SELECT g AS id, repeat('x', 200) AS pad FROM generate_series(1, 2000) g"
    )
    rules = rules_file("[[rule]]\nname = 'table_growth'\nwindow = '0s'\n")
    run_check(db.target, store, rules)  # a first snapshot with every table measured
    before = store.latest_snapshot(db.target.key, TABLE_SIZES_KIND)
    assert before is not None and {"public.steady", "public.rebuilt"} <= set(before.payload["sizes"])

    holder = db.connect(autocommit=False)
    try:
        holder.execute("LOCK TABLE rebuilt IN ACCESS EXCLUSIVE MODE")  # held until the rollback below
        result = run_check(db.target, store, rules)
        plugin_state = PluginState()
        plugin_round(db.target, load_rules(rules), plugin_state, io.StringIO(), 1, None)
    finally:
        holder.rollback()
        holder.close()

    stored = store.latest_snapshot(db.target.key, TABLE_SIZES_KIND)
    assert stored is not None and stored.taken_at == result.checked_at
    assert "public.rebuilt" not in stored.payload["sizes"]
    assert "public.steady" in stored.payload["sizes"]
    assert "public.rebuilt" not in plugin_state.sizes[-1].sizes
    assert "public.steady" in plugin_state.sizes[-1].sizes
    locked = status_of(result, "table_growth", "public.rebuilt")
    assert (locked.status, locked.value, locked.note) == ("unknown", None, LOCKED_NOTE)
    assert status_of(result, "table_growth", "public.steady").value == 0


@pytest.mark.catalog
def test_a_table_dropped_and_created_again_since_the_baseline_has_no_growth(
    db: TestDatabase, store: HistoryStore, rules_file: Callable[[str], Path]
) -> None:
    db.execute("CREATE TABLE staging (id bigint, payload text) WITH (autovacuum_enabled = false)")
    rules = rules_file("[[rule]]\nname = 'table_growth'\nwindow = '0s'\nwarn = 1\n")
    run_check(db.target, store, rules)  # the baseline: the empty table
    load = "INSERT INTO staging SELECT g, repeat('event', 100) FROM generate_series(1, 6000) AS g"
    # the nightly rebuild: a new table under the old name, loaded at once (4 MB is not growth of the old one)
    db.execute(f"DROP TABLE staging; CREATE TABLE staging (id bigint, payload text); {load}")
    rebuilt = status_of(run_check(db.target, store, rules), "table_growth", "public.staging")
    assert (rebuilt.status, rebuilt.value, rebuilt.note) == ("unknown", None, RECREATED_NOTE)
    plugin_state = PluginState()  # the Netdata plugin's in-memory baseline follows the same rule
    plugin_round(db.target, load_rules(rules), plugin_state, io.StringIO(), 1, None)
    db.execute(f"DROP TABLE staging; CREATE TABLE staging (id bigint, payload text); {load}")
    out = io.StringIO()
    plugin_round(db.target, load_rules(rules), plugin_state, out, 1, None)
    chart = out.getvalue().split("BEGIN pgdba.table_growth_public_staging\n", 1)[1]
    assert chart.startswith("END")  # no value charted
    run_check(db.target, store, rules)  # a baseline of the table as it is now
    db.execute(load)  # the same table growing is growth
    grown = status_of(run_check(db.target, store, rules), "table_growth", "public.staging")
    assert grown.status in ("warning", "critical") and grown.value is not None and grown.value > 1


@pytest.mark.catalog
def test_a_partitioned_tables_growth_is_its_partitions_and_an_older_baseline_fakes_none(
    db: TestDatabase, store: HistoryStore, rules_file: Callable[[str], Path]
) -> None:
    db.execute(
        "CREATE TABLE metrics (id bigint NOT NULL, payload text) PARTITION BY HASH (id);"
        "CREATE TABLE metrics_0 PARTITION OF metrics FOR VALUES WITH (MODULUS 2, REMAINDER 0);"
        "CREATE TABLE metrics_1 PARTITION OF metrics FOR VALUES WITH (MODULUS 2, REMAINDER 1)"
    )
    load = "INSERT INTO metrics SELECT g, repeat('event', 100) FROM generate_series(1, 6000) AS g"
    db.execute(load)
    rules = rules_file("[[rule]]\nname = 'table_growth'\nwindow = '0s'\nwarn = 1\n")
    # a baseline as an older pgdba stored it: a partitioned table's size was 0 then
    sizes = {"public.metrics": 0, "public.metrics_0": 2 * 1024**2, "public.metrics_1": 2 * 1024**2}
    store.save_snapshot(db.target.key, TABLE_SIZES_KIND, {"sizes": sizes, "oids": {}})
    older = status_of(run_check(db.target, store, rules), "table_growth", "public.metrics")
    assert (older.status, older.value, older.note) == ("unknown", None, UNSUMMED_NOTE)
    stored = store.latest_snapshot(db.target.key, TABLE_SIZES_KIND)
    assert stored is not None and stored.payload["partitions_summed"] is True
    assert stored.payload["sizes"]["public.metrics"] == sum(
        stored.payload["sizes"][f"public.metrics_{n}"] for n in (0, 1)
    )
    db.execute(load)  # both partitions grow: the partitioned table by their sum
    result = run_check(db.target, store, rules)
    grown = status_of(result, "table_growth", "public.metrics")
    assert grown.status in ("warning", "critical") and grown.value is not None

    def delta(obj: str) -> int:
        detail = status_of(result, "table_growth", obj).detail
        return int(detail["bytes_now"] - detail["bytes_before"])

    assert delta("public.metrics") == delta("public.metrics_0") + delta("public.metrics_1") > 3 * 1024**2
