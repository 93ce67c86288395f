"""The demo's embedded cluster: pg_stat_statements ready and pg_qualstats loaded, sampling every query."""

from __future__ import annotations

import os
import tempfile
from dataclasses import replace
from pathlib import Path

import pytest

from pgdba.demo.build import create_demo_database, create_demo_extensions, reset_qualstats
from pgdba.demo.main_job import start_demo_cluster
from pgdba.embedded import EmbeddedCluster


def test_the_demo_cluster_loads_pg_qualstats_once_and_the_demo_database_gets_it() -> None:
    root = Path(tempfile.mkdtemp(prefix="pgdba-test-demo-cluster-"))
    os.chmod(root, 0o755)
    same_root = EmbeddedCluster(root)  # destroys whatever start_demo_cluster left, even when it failed
    if not same_root.library_available("pg_qualstats"):
        same_root.destroy()
        pytest.skip("pg_qualstats is not installed for this PostgreSQL build")
    try:
        cluster, admin = start_demo_cluster(root)
        with admin.connect() as conn:
            row = conn.execute(
                "SELECT current_setting('shared_preload_libraries'), current_setting('pg_qualstats.sample_rate')"
            ).fetchone()
        assert row is not None
        libraries = [name.strip() for name in row[0].split(",")]
        assert libraries.count("pg_qualstats") == 1 and "pg_stat_statements" in libraries
        assert float(row[1]) == 1.0
        started = cluster.status().pid
        again, _ = start_demo_cluster(root)  # set up already: no restart, no second entry
        assert again.status().pid == started
        target = create_demo_database(admin, "qualstats_check")
        # a session that plays a workload: pgdba's own sessions turn pg_qualstats off for themselves
        with replace(target, track_statements=True).connect(apply=True) as conn:
            assert "pg_qualstats" in create_demo_extensions(conn)
            conn.execute("CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 100) g")
            conn.execute("SELECT count(*) FROM t WHERE id = %s", (7,))
            seen = conn.execute("SELECT count(*) FROM pg_qualstats()").fetchone()
            reset_qualstats(conn)
            left = conn.execute("SELECT count(*) FROM pg_qualstats()").fetchone()
        assert seen is not None and seen[0] > 0  # sampled: sample_rate 1
        assert left == (0,)
    finally:
        same_root.destroy()
