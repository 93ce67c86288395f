"""Reading table and index counters on every PostgreSQL major of the version matrix.

Table and index counters reach other sessions differently by major: 15 and later keep them in shared
memory and publish a session's pending counters when it goes idle (at once after pg_stat_force_next_flush());
14 sends them to the statistics collector process, which answers readers a moment later. Tests publish
with `publish_stats` and read with `eventually`, so the same assertion holds on every major.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import psycopg
import pytest

T = TypeVar("T")

# PostgreSQL 14 stamps a new database's pg_stat_database.stats_reset with its creation time (15+ leaves it
# NULL until a reset), so there every test database's statistics are too young to judge unused indexes.
NEEDS_UNSTAMPED_STATS = pytest.mark.pg(">= 15")

STATS_DEADLINE_S = 10.0
_POLL_INTERVAL_S = 0.05


def publish_stats(conn: psycopg.Connection) -> None:
    """Make this session's pending table and index counters visible to other sessions."""
    if conn.info.server_version >= 150000:
        conn.execute("SELECT pg_stat_force_next_flush()")


def eventually(
    collect: Callable[[], T], ready: Callable[[T], bool], *, deadline_s: float = STATS_DEADLINE_S
) -> T:
    """Collect until `ready` holds or the deadline passes; return the last collection for the assertions.

    Each collection runs in its own transaction, so it sees counters published since the previous one.
    """
    end = time.monotonic() + deadline_s
    while True:
        value = collect()
        if ready(value) or time.monotonic() >= end:
            return value
        time.sleep(_POLL_INTERVAL_S)  # polling a condition with a deadline, not waiting for a guess
