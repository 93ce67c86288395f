"""Fixtures for the demo tests: a tiny demo database built once per module, and scratch databases."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import psycopg
import pytest

from pgdba.demo.build import build_demo_database, create_demo_database
from pgdba.embedded import EmbeddedCluster
from pgdba.target import resolve_target
from tests.demo.support import TINY_SCALE, BuiltDemo


@pytest.fixture(scope="session")
def scratch_database(pg_cluster: EmbeddedCluster) -> Iterator[Callable[[], str]]:
    """Make empty databases on demand (their DSNs); all are dropped at the end of the session."""
    names: list[str] = []

    def make() -> str:
        name = f"scratch_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(pg_cluster.dsn(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        names.append(name)
        return pg_cluster.dsn(name)

    yield make
    with psycopg.connect(pg_cluster.dsn(), autocommit=True) as conn:
        for name in names:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def tiny_demo(pg_cluster: EmbeddedCluster) -> Iterator[BuiltDemo]:
    """The demo built once at a tiny scale, for tests that only read it."""
    name = f"demo_{uuid.uuid4().hex[:10]}"
    target = create_demo_database(resolve_target(pg_cluster.dsn()), name)
    result = build_demo_database(target, scale=TINY_SCALE)
    yield BuiltDemo(target, pg_cluster.dsn(name), result)
    with psycopg.connect(pg_cluster.dsn(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
