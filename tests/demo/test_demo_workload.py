"""The workload driver: application traffic that leaves the planted problems in pg_stat_statements."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest

from pgdba.demo import queries
from pgdba.demo.app_catalog import load_catalog
from pgdba.demo.build import build_demo_database
from pgdba.demo.planted import N_PLUS_ONE_QUERY, PLANTED_MISSING_INDEXES
from pgdba.demo.traffic_plan import ROUND_MIX, SURGE_SCENARIO, plan_rounds
from pgdba.demo.workload import APPLICATION_NAME, WorkloadPool, open_application_pool, run_workload
from pgdba.errors import InputError, NotAvailable
from tests.conftest import TestDatabase
from tests.demo.support import TINY_SCALE, BuiltDemo

_STATEMENTS = """
SELECT query, calls, rows
FROM pg_stat_statements
WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
"""


def _normalised(sql: str) -> str:
    """A workload statement as pg_stat_statements prints it (%s placeholders become $1, $2 …), in one line."""
    parts = sql.split("%s")
    numbered = "".join(part + (f"${i}" if i < len(parts) else "") for i, part in enumerate(parts, start=1))
    return " ".join(numbered.split())


class _RecordingPool:
    """The default pool, remembering each session's application_name: proves pool_factory is used."""

    def __init__(self, conninfo: str, size: int) -> None:
        self.inner = open_application_pool(conninfo, size)
        self.names: set[str] = set()
        self.lock = threading.Lock()

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        with self.inner.connection() as conn:
            row = conn.execute("SELECT current_setting('application_name')").fetchone()
            with self.lock:
                self.names.add(row[0] if row else "")
            yield conn

    def close(self) -> None:
        self.inner.close()


def test_workload_leaves_the_n_plus_one_and_the_planted_slow_queries(db: TestDatabase) -> None:
    build_demo_database(db.target, scale=TINY_SCALE)
    pools: list[_RecordingPool] = []

    def factory(conninfo: str, size: int) -> WorkloadPool:
        pools.append(_RecordingPool(conninfo, size))
        return pools[-1]

    result = run_workload(db.target, rounds=3, workers=4, pool_factory=factory)

    assert result.errors == 0, result.error_messages
    assert pools and pools[0].names == {APPLICATION_NAME}
    with db.connect() as conn:
        statements = conn.execute(_STATEMENTS).fetchall()
    by_text = {" ".join(query.split()): (calls, rows) for query, calls, rows in statements}

    calls, rows = by_text[_normalised(N_PLUS_ONE_QUERY)]
    n_plus_one_pages = ROUND_MIX["n_plus_one"] * 3
    assert calls > 2 * n_plus_one_pages  # many lookups per list page
    assert rows == calls  # one row each

    for planted in PLANTED_MISSING_INDEXES:
        # pg_stat_statements turns literals into $n too, so match on the table and the filtered column
        leading = f'"{planted.columns[0]}" = $'
        recorded = [text for text in by_text if f'"{planted.table}"' in text and leading in text]
        assert any(by_text[text][0] > 0 for text in recorded), f"nothing on {planted.table}({leading}…) ran"
    recent_activity = _normalised(queries.RECENT_ACTIVITY)
    assert by_text[recent_activity][0] == ROUND_MIX["student_dashboard"] * 3


def test_workload_times_every_scenario(tiny_demo: BuiltDemo) -> None:
    progress: list[tuple[str, int, int]] = []
    result = run_workload(
        tiny_demo.target, rounds=3, workers=3, seed=5, progress=lambda *a: progress.append(a)
    )

    assert result.rounds == 3
    assert progress[-1] == ("workload", 3, 3)
    for scenario, per_round in ROUND_MIX.items():
        timing = result.scenarios[scenario]
        assert timing.calls == 3 * per_round, scenario
        assert timing.statements >= timing.calls
        assert 0 < timing.p50_ms <= timing.p95_ms <= timing.max_ms
        assert timing.mean_ms == pytest.approx(timing.total_ms / timing.calls)
    surge = result.scenarios[SURGE_SCENARIO]
    assert surge.calls >= 2  # one class started, its students all at once
    assert result.to_dict()["scenarios"]["lesson_view"]["calls"] == 3 * ROUND_MIX["lesson_view"]


def test_workload_can_run_for_a_duration(tiny_demo: BuiltDemo) -> None:
    result = run_workload(tiny_demo.target, duration_s=0.2, workers=2, surge_size=0)
    assert result.rounds >= 1
    assert result.elapsed_s >= 0.2
    assert SURGE_SCENARIO not in result.scenarios


def test_the_plan_is_the_same_for_the_same_seed(tiny_demo: BuiltDemo) -> None:
    catalog = load_catalog(tiny_demo.target)
    first = plan_rounds(catalog, 4, seed=7)
    assert first == plan_rounds(catalog, 4, seed=7)
    assert first != plan_rounds(catalog, 4, seed=8)
    assert sum(len(r.tasks) for r in first) == 4 * sum(ROUND_MIX.values())
    assert any(r.surge is not None for r in first)


def test_workload_on_a_database_without_the_demo_is_not_available(db: TestDatabase) -> None:
    with pytest.raises(NotAvailable, match="no demo schema"):
        run_workload(db.target, rounds=1)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rounds": 2, "duration_s": 1.0}, "either rounds or duration_s"),
        ({"rounds": 0}, "rounds must be at least 1"),
        ({"duration_s": -1.0}, "duration_s must be positive"),
        ({"workers": 0}, "workers must be between"),
    ],
)
def test_workload_rejects_bad_sizes(tiny_demo: BuiltDemo, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError, match=message):
        run_workload(tiny_demo.target, **kwargs)
