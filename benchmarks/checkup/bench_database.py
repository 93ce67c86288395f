"""The checkup benchmarks' throwaway server: an embedded PostgreSQL cluster of their own with an empty
database `bench`, removed afterwards."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import psycopg

from pgdba.embedded import EmbeddedCluster


@contextmanager
def bench_database(prefix: str, settings: Mapping[str, str] | None = None) -> Iterator[tuple[Path, str]]:
    """The cluster's folder (for files a benchmark keeps beside it) and the DSN of database `bench`."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    os.chmod(root, 0o755)
    cluster = EmbeddedCluster(root, settings=dict(settings or {}))
    cluster.start()
    try:
        with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
            conn.execute("CREATE DATABASE bench")
        yield root, cluster.dsn("bench")
    finally:
        cluster.destroy()
