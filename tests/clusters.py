"""Throwaway PostgreSQL clusters for tests that must restart or reconfigure a server (the suite's shared
cluster never is) or need other settings than it has."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pgdba.embedded import EmbeddedCluster


@contextmanager
def own_cluster(purpose: str, **settings: str) -> Iterator[EmbeddedCluster]:
    """A started cluster under /tmp (max_connections 20 unless given), destroyed afterwards."""
    # not under pytest's tmp dir: as root, the unprivileged server user must be able to reach it
    root = Path(tempfile.mkdtemp(prefix=f"pgdba-{purpose}-"))
    os.chmod(root, 0o755)
    cluster = EmbeddedCluster(root, settings={"max_connections": "20", **settings})
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.destroy()
