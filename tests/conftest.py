"""Test fixtures: one throwaway PostgreSQL cluster per test session (per pytest-xdist worker under `make
test`), a fresh database per test.

The cluster is started by pgdba's own embedded module (PGDBA_PG_BIN selects another PostgreSQL build, as
the version matrix does). `@pytest.mark.pg(">= 16")` gates a test by the server's major version.
"""

from __future__ import annotations

import operator
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest
from psycopg import conninfo, sql

from pgdba.embedded import EmbeddedCluster
from pgdba.target import Target, resolve_target
from tests.clusters import own_cluster

_OPS = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt, "==": operator.eq}


@dataclass
class TestDatabase:
    """A fresh database in the session's cluster."""

    __test__ = False
    name: str
    dsn: str
    target: Target
    cluster: EmbeddedCluster

    def connect(self, *, autocommit: bool = True) -> psycopg.Connection:
        """A plain superuser connection for setting up the test (not pgdba's read-only session)."""
        return psycopg.connect(self.dsn, autocommit=autocommit)

    def execute(self, sql: str, params: object = None) -> None:
        with self.connect() as conn:
            conn.execute(sql, params)  # type: ignore[arg-type]


@pytest.fixture(scope="session", autouse=True)
def _private_history_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Commands that default to the user's history store write to a throwaway one during tests."""
    previous = os.environ.get("PGDBA_HISTORY")
    os.environ["PGDBA_HISTORY"] = str(tmp_path_factory.mktemp("history") / "history.sqlite3")
    yield
    if previous is None:
        os.environ.pop("PGDBA_HISTORY", None)
    else:
        os.environ["PGDBA_HISTORY"] = previous


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[EmbeddedCluster]:
    with own_cluster("test-cluster", max_connections="120") as cluster:
        yield cluster


@pytest.fixture(scope="session")
def server_major(pg_cluster: EmbeddedCluster) -> int:
    with psycopg.connect(pg_cluster.dsn()) as conn:
        row = conn.execute("SELECT current_setting('server_version_num')::int").fetchone()
        assert row is not None
        return int(row[0]) // 10000


@pytest.fixture(autouse=True)
def _version_gate(request: pytest.FixtureRequest) -> None:
    marker = request.node.get_closest_marker("pg")
    if marker is None:
        return
    major = request.getfixturevalue("server_major")
    op, _, version = str(marker.args[0]).partition(" ")
    if not _OPS[op](major, int(version)):
        pytest.skip(f"needs PostgreSQL {marker.args[0]}, server is {major}")


@pytest.fixture(scope="session")
def hypopg_available(pg_cluster: EmbeddedCluster) -> bool:
    return pg_cluster.hypopg_available()


@pytest.fixture(autouse=True)
def _hypopg_gate(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("hypopg") and not request.getfixturevalue("hypopg_available"):
        pytest.skip("HypoPG is not available for this PostgreSQL build")


@pytest.fixture
def db(pg_cluster: EmbeddedCluster, hypopg_available: bool) -> Iterator[TestDatabase]:
    """A fresh database with pg_stat_statements (and HypoPG when available) created."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_cluster.dsn(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    dsn = pg_cluster.dsn(name)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        if hypopg_available:
            conn.execute("CREATE EXTENSION IF NOT EXISTS hypopg")
    yield TestDatabase(name, dsn, resolve_target(dsn), pg_cluster)
    with psycopg.connect(pg_cluster.dsn(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def monitor_role(db: TestDatabase) -> Iterator[Target]:
    """A LOGIN role that is not superuser (reads the statistics through pg_read_all_stats)."""
    name = f"monitor_{uuid.uuid4().hex[:8]}"
    db.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD 'monitor'").format(sql.Identifier(name)).as_string())
    db.execute(sql.SQL("GRANT pg_read_all_stats TO {}").format(sql.Identifier(name)).as_string())
    db.execute(
        sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA public TO {}").format(sql.Identifier(name)).as_string()
    )
    dsn = conninfo.make_conninfo(db.dsn, user=name, password="monitor", passfile="")
    yield Target(dsn)
    with psycopg.connect(db.dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
        conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))
