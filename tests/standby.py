"""A streaming standby of a test cluster, made as a DBA makes one: `pg_basebackup -R -X stream` from the
running primary, then started in recovery. The check-up's replica tests read it."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

from pgdba.embedded import SUPERUSER, EmbeddedCluster
from tests.api.conftest import free_port
from tests.checkup.helpers import wait_until


@contextmanager
def standby_of(primary: EmbeddedCluster) -> Iterator[EmbeddedCluster]:
    """A started standby streaming from `primary`, destroyed afterwards."""
    root = Path(tempfile.mkdtemp(prefix="pgdba-standby-"))
    os.chmod(root, 0o755)
    standby = EmbeddedCluster(root, bin_dir=primary.bin_dir)
    standby.data_dir.mkdir(mode=0o700)  # pg_basebackup runs as the server's user: its folder is made for it
    standby._chown(standby.data_dir)
    # the server's user reads the password for pg_basebackup and, later, for its WAL receiver
    server_passfile = root / "pgpass-server"
    shutil.copyfile(primary.passfile, server_passfile)
    standby._chown(server_passfile)
    os.chmod(server_passfile, 0o600)
    conninfo = f"host=127.0.0.1 port={primary.port} user={SUPERUSER} passfile={server_passfile}"
    try:
        standby._run(
            [
                str(primary.bin_dir / "pg_basebackup"),
                *("-D", str(standby.data_dir), "-R", "-X", "stream", "-c", "fast", "-d", conninfo),
            ]
        )
        with (standby.data_dir / "postgresql.auto.conf").open("a") as conf:
            conf.write(f"port = {free_port()}\n")  # after the primary's (pgdba.conf, copied with the data)
        shutil.copyfile(primary.passfile, standby.passfile)  # pgdba's own connections, as root
        os.chmod(standby.passfile, 0o600)
        standby.start()
        yield standby
    finally:
        standby.destroy()


def wait_for_replay(primary: EmbeddedCluster, standby: EmbeddedCluster) -> None:
    """Until the standby has replayed everything the primary has written so far."""
    with psycopg.connect(primary.dsn(), autocommit=True) as conn:
        row = conn.execute("SELECT pg_current_wal_lsn()").fetchone()
    assert row is not None
    target = row[0]

    def replayed() -> bool:
        with psycopg.connect(standby.dsn(), autocommit=True) as conn:
            done = conn.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (target,)).fetchone()
        return bool(done and done[0])

    wait_until(replayed, timeout=30, what=f"the standby replaying up to {target}")
