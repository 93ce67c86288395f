"""Fixtures of the optimizer tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pgdba.embedded import EmbeddedCluster
from tests.clusters import own_cluster


@pytest.fixture(scope="module")
def tiny_buffers_cluster() -> Iterator[EmbeddedCluster]:
    """A cluster whose shared_buffers are far smaller than the table the test scans."""
    with own_cluster("tinybuf", shared_buffers="256kB") as cluster:
        yield cluster
