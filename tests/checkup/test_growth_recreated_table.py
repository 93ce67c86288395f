"""Growth of a table dropped and created again under the same name: its series starts with the new table."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pgdba.api.capacity_routes import size_points
from pgdba.cli import main
from pgdba.history.snapshot import TABLES, size_history, snapshot_meta
from pgdba.history.store import HistoryStore, open_store
from pgdba.report.weekly import build_report
from pgdba.server import load_server_facts
from pgdba.stats.tables import table_stats
from tests.checkup.helpers import find, run
from tests.conftest import TestDatabase

FILL = "INSERT INTO staging SELECT g, repeat('x', 100) FROM generate_series(1, 20000) g"  # ~3 MB
RECREATE = "DROP TABLE staging; CREATE TABLE staging (id bigint PRIMARY KEY, payload text)"


def _snapshot_tables_at(db: TestDatabase, store: HistoryStore, ago: timedelta) -> list[dict[str, Any]]:
    """What `pgdba snapshot` stores for the tables, placed `ago` in the past."""
    with db.connect() as conn:
        payload = [t.to_dict() for t in table_stats(conn)]
        meta = snapshot_meta(load_server_facts(conn))
    store.save_snapshot(db.target.key, TABLES, payload, meta=meta, taken_at=datetime.now(UTC) - ago)
    return payload


def _staging_oid(db: TestDatabase) -> int:
    with db.connect() as conn:
        row = conn.execute("SELECT 'public.staging'::regclass::oid::bigint").fetchone()
    assert row is not None
    return int(row[0])


def _forecast_row(db: TestDatabase, path: str, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    capsys.readouterr()
    args = ["capacity", "tables", "--dsn", db.dsn, "--store", path, "--forecast-days", "30", "-f", "json"]
    assert main(args) == 0
    rows = {r["table"]: r for r in json.loads(capsys.readouterr().out)["tables"]}
    return dict(rows["public.staging"])


@pytest.fixture
def staging(db: TestDatabase) -> TestDatabase:
    db.execute("CREATE TABLE staging (id bigint PRIMARY KEY, payload text)")
    db.execute(FILL)
    return db


@pytest.mark.catalog
def test_a_table_snapshot_records_the_tables_oid(staging: TestDatabase, tmp_path: Path) -> None:
    with open_store(str(tmp_path / "h.sqlite3")) as store:
        [row] = [r for r in _snapshot_tables_at(staging, store, timedelta(0)) if r["table"] == "staging"]
    assert row["oid"] == _staging_oid(staging)


@pytest.mark.catalog
def test_a_recreated_table_gets_no_rate_from_the_dropped_tables_samples(
    staging: TestDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(tmp_path / "h.sqlite3")
    with open_store(path) as store:
        _snapshot_tables_at(staging, store, timedelta(hours=3))  # the 3 MB table
    staging.execute(RECREATE)  # an empty table of the same name: not a shrink of 3 MB in 3 hours
    replaced = _forecast_row(staging, path, capsys)
    assert replaced["bytesPerDay"] is None and replaced["forecastBytes"] is None
    assert replaced["totalBytes"] < 100_000
    with open_store(path) as store:  # an hourly snapshot of the new table, then it is reloaded
        _snapshot_tables_at(staging, store, timedelta(hours=2))
    staging.execute(FILL)
    reloaded = _forecast_row(staging, path, capsys)
    assert reloaded["bytesPerDay"] > 0  # measured from the new table's empty start, two hours back
    assert reloaded["forecastBytes"] > reloaded["totalBytes"]


@pytest.mark.catalog
def test_a_drop_and_reload_raises_no_growth_finding(staging: TestDatabase, tmp_path: Path) -> None:
    store = HistoryStore(tmp_path / "h.sqlite3")
    staging.execute("TRUNCATE staging")
    _snapshot_tables_at(staging, store, timedelta(hours=2))  # yesterday's table, emptied before its load
    staging.execute(RECREATE)  # the nightly rebuild: a new table, loaded at once
    staging.execute(FILL)
    _snapshot_tables_at(staging, store, timedelta(hours=1))
    # a 90-minute window reaches back to the old table only: the new one has no sample that old
    options = {"min_window_seconds": 5400, "warning_bytes_per_hour": 2**20 // 2}
    found = run(staging, "capacity.table_growth", store=store, capacity__table_growth=options)
    assert find(found, "capacity.table_growth") == []
    # the table's size history (the capacity API's chart) starts with the new table too
    points = size_points(store, staging.target, "public.staging", 200)["points"]
    assert len(points) == 1 and points[0]["bytes"] > 1_000_000


@pytest.mark.catalog
def test_a_table_recreated_after_the_newest_snapshot_raises_no_growth_finding(
    staging: TestDatabase, tmp_path: Path
) -> None:
    store = HistoryStore(tmp_path / "h.sqlite3")
    staging.execute("TRUNCATE staging")
    _snapshot_tables_at(staging, store, timedelta(hours=2))  # the old table, empty
    staging.execute(RECREATE)  # rebuilt and loaded since: the stored samples are another table's
    staging.execute(FILL)
    options = {"min_window_seconds": 3600, "warning_bytes_per_hour": 2**20 // 2}
    found = run(staging, "capacity.table_growth", store=store, capacity__table_growth=options)
    assert find(found, "capacity.table_growth") == []
    staging.execute("TRUNCATE staging")  # the same table emptied and loaded again does grow
    _snapshot_tables_at(staging, store, timedelta(hours=2))
    staging.execute(FILL)
    found = run(staging, "capacity.table_growth", store=store, capacity__table_growth=options)
    assert [f.object for f in find(found, "capacity.table_growth")] == ["public.staging"]


@pytest.mark.catalog
def test_a_rebuild_between_snapshots_cuts_the_older_samples(staging: TestDatabase, tmp_path: Path) -> None:
    store = HistoryStore(tmp_path / "h.sqlite3")
    _snapshot_tables_at(staging, store, timedelta(hours=3))  # the old 3 MB table
    staging.execute(RECREATE)
    _snapshot_tables_at(staging, store, timedelta(hours=2))  # the new, empty one
    history = size_history(store, staging.target.key, TABLES)
    assert [("public.staging" in sizes) for _, sizes in history] == [True, False]
    assert history[0][1]["public.staging"] < 100_000


@pytest.mark.catalog
def test_truncate_keeps_the_tables_identity_and_shows_a_real_shrink(
    staging: TestDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(tmp_path / "h.sqlite3")
    oid = _staging_oid(staging)
    with open_store(path) as store:
        _snapshot_tables_at(staging, store, timedelta(hours=2))
    staging.execute("TRUNCATE staging")
    staging.execute("VACUUM FULL staging")
    assert _staging_oid(staging) == oid
    shrunk = _forecast_row(staging, path, capsys)
    assert shrunk["bytesPerDay"] < -1_000_000  # ~3 MB gone in two hours


@pytest.mark.catalog
def test_old_snapshots_without_an_oid_keep_their_samples(
    staging: TestDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(tmp_path / "h.sqlite3")
    with open_store(path) as store:  # written by a pgdba that did not record OIDs
        payload = _snapshot_tables_at(staging, store, timedelta(0))
        legacy = [{k: v for k, v in row.items() if k != "oid"} for row in payload]
        for row in legacy:
            row["total_bytes"] -= 2**20
        store.save_snapshot(
            staging.target.key, TABLES, legacy, taken_at=datetime.now(UTC) - timedelta(hours=2)
        )
    row = _forecast_row(staging, path, capsys)
    assert row["bytesPerDay"] > 0  # 1 MB in two hours, from the sample without an OID


@pytest.mark.catalog
def test_weekly_report_growth_leaves_out_the_table_before_it_was_recreated(
    staging: TestDatabase, tmp_path: Path
) -> None:
    with open_store(str(tmp_path / "h.sqlite3")) as store:
        _snapshot_tables_at(staging, store, timedelta(hours=3))
        staging.execute(RECREATE)
        report = build_report(staging.target, store, save=False)
    assert [g.object for g in report.growth if g.object == "public.staging"] == []
    assert "public.staging" not in {g["object"] for g in report.to_dict()["growth"]}
