"""Correctness review of the alert rules: no alarms on a healthy idle server or a caught-up standby."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from pgdba.alerts.metrics import sample_disk, sample_replication
from pgdba.embedded import SUPERUSER, EmbeddedCluster
from tests.api.conftest import free_port
from tests.conftest import TestDatabase


@pytest.fixture
def small_filesystem() -> Iterator[Path]:
    """A 4 MiB tmpfs owned by the server's user (mounting needs root)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a filesystem needs root")
    mountpoint = Path(tempfile.mkdtemp(prefix="pgdba-review-fs-"))
    os.chmod(mountpoint, 0o755)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m,mode=0755", "tmpfs", str(mountpoint)], capture_output=True
    )
    if mounted.returncode != 0:
        mountpoint.rmdir()
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", str(mountpoint)], check=True)
        mountpoint.rmdir()


@pytest.mark.catalog
def test_disk_usage_sees_a_full_tablespace_on_another_filesystem(
    db: TestDatabase, small_filesystem: Path
) -> None:
    # a tablespace (or pg_wal) on its own filesystem fills up while the data directory's has room: inserts
    # there fail with "could not extend file", so disk_usage must watch the fullest of them
    location = small_filesystem / "space"
    location.mkdir()
    shutil.chown(location, "postgres", "postgres")
    filler = small_filesystem / "filler"
    filler.write_bytes(b"x" * (3584 * 1024))  # 3.5 of 4 MiB
    name = f"review_{db.name}"
    db.execute(f"CREATE TABLESPACE {name} LOCATION '{location}'")
    try:
        with db.target.connect() as conn:
            sample = sample_disk(conn, db.target)
    finally:
        db.execute(f"DROP TABLESPACE {name}")
    assert sample.usage_percent is not None and sample.usage_percent > 80
    assert sample.path == str(location)


# ---- a streaming standby of a throwaway primary ------------------------------------------------------------
@dataclass
class Pair:
    primary: EmbeddedCluster
    standby: EmbeddedCluster


def _password(cluster: EmbeddedCluster) -> str:
    return cluster.passfile.read_text().strip().rsplit(":", 1)[1]


@pytest.fixture(scope="module")
def standby_pair() -> Iterator[Pair]:
    if os.geteuid() != 0:
        pytest.skip("the standby's files are handed to the server's user: needs root")
    primary_root = Path(tempfile.mkdtemp(prefix="pgdba-review-primary-"))
    standby_root = Path(tempfile.mkdtemp(prefix="pgdba-review-standby-"))
    for root in (primary_root, standby_root):
        os.chmod(root, 0o755)
    primary = EmbeddedCluster(primary_root)
    standby = EmbeddedCluster(standby_root)
    try:
        primary.start()
        password = _password(primary)
        env = {**os.environ, "PGPASSWORD": password}
        subprocess.run(
            [
                str(primary.bin_dir / "pg_basebackup"),
                "-h",
                "127.0.0.1",
                "-p",
                str(primary.port),
                "-U",
                SUPERUSER,
                "-D",
                str(standby.data_dir),
                "-X",
                "stream",
                "-R",
            ],
            check=True,
            env=env,
            capture_output=True,
        )
        auto = standby.data_dir / "postgresql.auto.conf"
        auto.write_text(
            f"primary_conninfo = 'host=127.0.0.1 port={primary.port} user={SUPERUSER} password={password}'\n"
        )
        conf = standby.data_dir / "pgdba.conf"
        lines = [line for line in conf.read_text().splitlines() if not line.startswith("port")]
        conf.write_text("\n".join([*lines, f"port = {free_port()}"]) + "\n")
        standby.passfile.write_text(primary.passfile.read_text())
        os.chmod(standby.passfile, 0o600)
        subprocess.run(["chown", "-R", "postgres:postgres", str(standby.data_dir)], check=True)
        os.chmod(standby.data_dir, 0o700)
        standby.start()
        yield Pair(primary, standby)
    finally:
        standby.destroy()
        primary.destroy()


def _commit_and_wait_for_replay(pair: Pair) -> None:
    """Commit a transaction on the primary and wait (bounded, on the server) until the standby replayed it."""
    with psycopg.connect(pair.primary.dsn(), autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS ticks (at timestamptz)")
        conn.execute("INSERT INTO ticks VALUES (now())")
        row = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()
        assert row is not None
        lsn = row[0]
    with psycopg.connect(pair.standby.dsn(), autocommit=True) as conn:
        conn.execute(
            """
            DO $$
            BEGIN
              FOR i IN 1..600 LOOP
                EXIT WHEN pg_last_wal_replay_lsn() >= '%s'::pg_lsn
                      AND EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming');
                PERFORM pg_sleep(0.05);
              END LOOP;
            END $$
            """.replace("%s", lsn)
        )
        row = conn.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (lsn,)).fetchone()
        assert row == (True,), "the standby did not replay the primary's commit in 30 s"


@pytest.mark.catalog
def test_a_caught_up_standby_of_an_idle_primary_has_no_replication_lag(standby_pair: Pair) -> None:
    # now() - pg_last_xact_replay_timestamp() grows on every standby while its primary is idle: the
    # standby has replayed all it received from a streaming primary, so it is not behind at all (with the
    # timestamp alone, the lag is the time since the commit: already > 0 here, hours on a quiet night)
    _commit_and_wait_for_replay(standby_pair)
    with psycopg.connect(standby_pair.standby.dsn(), autocommit=True) as conn:
        sample = sample_replication(conn)
    assert sample.is_replica
    assert sample.lag_seconds == 0.0


@pytest.mark.catalog
def test_a_standby_that_lost_its_primary_still_counts_its_replay_delay(standby_pair: Pair) -> None:
    _commit_and_wait_for_replay(standby_pair)
    standby_pair.primary.stop()
    try:
        with psycopg.connect(standby_pair.standby.dsn(), autocommit=True) as conn:
            conn.execute(  # bounded wait, on the server, for the wal receiver to notice
                """
                DO $$
                BEGIN
                  FOR i IN 1..600 LOOP
                    EXIT WHEN NOT EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming');
                    PERFORM pg_sleep(0.05);
                  END LOOP;
                END $$
                """
            )
            sample = sample_replication(conn)
        assert sample.is_replica
        assert sample.lag_seconds is not None and sample.lag_seconds > 0
    finally:
        standby_pair.primary.start()
