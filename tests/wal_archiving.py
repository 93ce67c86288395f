"""A cluster of its own with archive_mode = on, whose archive_command works or fails on demand: the
check-up's and the alerts' tests of WAL archiving drive it through real pg_switch_wal() calls."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from pgdba.embedded import EmbeddedCluster
from tests.checkup.helpers import wait_until
from tests.clusters import own_cluster

# the archiver runs in the data directory; the marker file next to it makes the next attempts fail
FAIL_MARKER = "archive-fails"
ARCHIVE_COMMAND = f"'test ! -e ../{FAIL_MARKER} && mkdir -p archived && cp %p archived/%f'"


@contextmanager
def archiving_cluster(purpose: str = "wal-archive") -> Iterator[EmbeddedCluster]:
    with own_cluster(purpose, archive_mode="on", archive_command=ARCHIVE_COMMAND) as cluster:
        yield cluster


def archiver_state(cluster: EmbeddedCluster) -> tuple[str | None, str | None, bool]:
    """(last archived WAL, last failed WAL, whether the newest attempt failed)."""
    with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
        row = conn.execute(
            "SELECT last_archived_wal, last_failed_wal,"
            " coalesce(last_failed_time > last_archived_time OR last_archived_time IS NULL, false)"
            " FROM pg_stat_archiver"
        ).fetchone()
    assert row is not None
    return row[0], row[1], bool(row[2])


def complete_a_wal_file(cluster: EmbeddedCluster) -> str:
    """Write, switch to a new WAL file, and return the name of the one just completed (now .ready)."""
    with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS wal_writer (v int)")
        conn.execute("INSERT INTO wal_writer VALUES (1)")
        row = conn.execute("SELECT pg_walfile_name(pg_switch_wal())").fetchone()
    assert row is not None
    return str(row[0])


def archive_one(cluster: EmbeddedCluster) -> str:
    """Let archiving work and wait until a newly completed WAL file is archived; its name."""
    (cluster.data_root / FAIL_MARKER).unlink(missing_ok=True)
    wal = complete_a_wal_file(cluster)
    wait_until(
        lambda: (last := archiver_state(cluster))[0] is not None and last[0] >= wal and not last[2],
        timeout=30,
        what=f"{wal} archived",
    )
    return wal


@contextmanager
def failing_archive(cluster: EmbeddedCluster) -> Iterator[str]:
    """After a recent success, make archive_command fail on a newly completed WAL file (its name), until
    the block ends; the archiver then catches up on its next attempts."""
    archive_one(cluster)  # a recent success first: the failure is new
    (cluster.data_root / FAIL_MARKER).touch()
    try:
        wal = complete_a_wal_file(cluster)
        wait_until(lambda: archiver_state(cluster)[1:] == (wal, True), timeout=30, what=f"{wal} failing")
        yield wal
    finally:
        (cluster.data_root / FAIL_MARKER).unlink(missing_ok=True)
