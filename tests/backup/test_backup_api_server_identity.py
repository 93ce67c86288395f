"""The REST API returns the server identity the backups record: each backup's and restore test's
system_identifier, the served server's own, and the other servers' backups under the same database name
(counted, not listed), as `backup list --dsn --format json` does."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
from fastapi.testclient import TestClient

from pgdba.api.app import create_app
from pgdba.api.settings import ApiSettings
from pgdba.backup import run_backup
from pgdba.backup.manifest import MANIFEST_NAME
from pgdba.backup.storage import FileStorage

OTHER_SERVER = "7000000000000000001"  # another cluster's identifier, as its own pgdba records it


def _system_identifier(dsn: str) -> str:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT system_identifier::text FROM pg_control_system()").fetchone()
    assert row is not None
    return str(row[0])


def _client(db, storage: FileStorage, tmp_path: Path) -> TestClient:  # type: ignore[no-untyped-def]
    settings = ApiSettings(
        db.target, token="t", history_store=str(tmp_path / "history.sqlite3"), backup_storage=storage.url
    )
    return TestClient(create_app(settings), headers={"Authorization": "Bearer t"})


def _recorded_on_another_server(storage: FileStorage, database: str, backup_id: str) -> None:
    path = storage.root / database / backup_id / MANIFEST_NAME
    data = json.loads(path.read_text())
    data["system_identifier"] = OTHER_SERVER
    path.write_text(json.dumps(data))


def test_api_backup_list_returns_the_system_identifiers_and_the_other_servers_backups(
    db, file_storage, tmp_path
):
    mine = run_backup(db.target, file_storage, include_globals=False).backup_id
    theirs = run_backup(db.target, file_storage, include_globals=False).backup_id
    _recorded_on_another_server(file_storage, db.name, theirs)
    client = _client(db, file_storage, tmp_path)
    ours = _system_identifier(db.dsn)

    tested = client.post("/api/v1/backups/restore-test", json={"confirm": True}).json()
    assert (tested["backup_id"], tested["system_identifier"]) == (mine, ours)

    listed = client.get("/api/v1/backups").json()
    assert [(b["backup_id"], b["system_identifier"]) for b in listed["backups"]] == [(mine, ours)]
    assert listed["system_identifier"] == ours
    assert listed["other_servers"] == [{"database": db.name, "system_identifier": OTHER_SERVER, "backups": 1}]
    assert listed["lastRestoreTest"]["system_identifier"] == ours


def test_api_backup_run_returns_the_system_identifier_it_recorded(db, file_storage, tmp_path):
    taken = _client(db, file_storage, tmp_path).post("/api/v1/backups/run", json={"confirm": True}).json()
    assert taken["system_identifier"] == _system_identifier(db.dsn)
