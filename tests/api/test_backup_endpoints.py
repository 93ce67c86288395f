"""/api/v1/backups: list and restore tests; taking a backup and running a restore test are confirmed POSTs."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from pgdba.api.app import create_app
from pgdba.api.settings import ApiSettings
from pgdba.backup import find_backup
from pgdba.backup.manifest import BACKUP_KIND, write_manifest
from pgdba.backup.storage import FileStorage
from pgdba.history.store import open_store
from tests.api.conftest import TOKEN
from tests.conftest import TestDatabase


def _client(db: TestDatabase, tmp_path: Path, store_path: str, *, token: str | None = TOKEN) -> TestClient:
    storage = tmp_path / "backups"
    storage.mkdir(exist_ok=True)  # `serve --backup-storage` requires an existing folder
    settings = ApiSettings(
        db.target, token=token, history_store=store_path, backup_storage=f"file://{storage}"
    )
    return TestClient(create_app(settings), headers={"Authorization": f"Bearer {token}"} if token else {})


def test_backups_without_storage_is_409_saying_how(client: TestClient) -> None:
    response = client.get("/api/v1/backups")
    assert response.status_code == 409 and "--backup-storage" in response.json()["detail"]


def test_backup_actions_are_refused_without_token_or_confirmation(
    seeded: TestDatabase, tmp_path: Path, store_path: str
) -> None:
    tokenless = _client(seeded, tmp_path, store_path, token=None)
    assert tokenless.post("/api/v1/backups/run", json={"confirm": True}).status_code == 403
    client = _client(seeded, tmp_path, store_path)
    assert client.post("/api/v1/backups/run", json={}).status_code == 422
    assert client.post("/api/v1/backups/restore-test", json={"confirm": False}).status_code == 422
    assert client.get("/api/v1/backups").json()["backups"] == []


def test_backup_then_restore_test_shows_on_the_list_and_the_page(
    seeded: TestDatabase, tmp_path: Path, store_path: str
) -> None:
    client = _client(seeded, tmp_path, store_path)
    seeded.execute("SELECT lo_from_bytea(0, 'a large object')")
    taken = client.post("/api/v1/backups/run", json={"confirm": True}).json()
    assert taken["database"] == seeded.name and taken["dump_size"] > 0
    listed = client.get("/api/v1/backups").json()
    assert [(b["backup_id"], b["status"]) for b in listed["backups"]] == [(taken["backup_id"], "complete")]
    assert listed["lastRestoreTest"] is None

    tested = client.post("/api/v1/backups/restore-test", json={"confirm": True}).json()
    assert tested["passed"] is True and tested["backup_id"] == taken["backup_id"]
    assert tested["scratch_dropped"] is True
    # the large-object comparison reaches API clients
    assert tested["large_object_content"]["source_total"] == 1
    assert (tested["large_object_content"]["compared"], tested["large_object_content"]["differ"]) == (1, [])
    listed = client.get("/api/v1/backups").json()
    assert listed["backups"][0]["status"] == "tested-ok"
    assert listed["lastRestoreTest"]["backup_id"] == taken["backup_id"]
    page = client.get("/backups").text
    assert 'data-key="restore-test-passed" data-value="yes"' in page
    assert f'data-backup="{taken["backup_id"]}"' in page


def test_a_backup_run_that_fails_is_recorded_as_failed_for_the_backup_age_alert(
    seeded: TestDatabase, tmp_path: Path, store_path: str
) -> None:
    client = _client(seeded, tmp_path, store_path)
    storage = tmp_path / "backups"
    storage.rmdir()
    storage.write_text("")  # the storage folder became a file (a failed mount): the dump cannot be stored
    with pytest.raises(OSError):  # the TestClient raises what the server answers 500 to
        client.post("/api/v1/backups/run", json={"confirm": True})
    with open_store(store_path) as store:
        ((_, payload),) = store.records(seeded.target.key, BACKUP_KIND)
    assert (payload["ok"], payload["status"], payload["storage"]) == (False, "failed", f"file://{storage}")
    assert str(storage) in payload["error"]


def test_restore_test_refuses_a_copy_too_large_for_the_free_space_unless_skip_space_check(
    seeded: TestDatabase, tmp_path: Path, store_path: str
) -> None:
    client = _client(seeded, tmp_path, store_path)
    taken = client.post("/api/v1/backups/run", json={"confirm": True}).json()
    storage = FileStorage(tmp_path / "backups")
    manifest = find_backup(storage, taken["backup_id"], seeded.name).manifest
    assert manifest is not None
    write_manifest(storage, dataclasses.replace(manifest, database_size=10 * 2**50))  # 10 PiB: no disk has it

    refused = client.post("/api/v1/backups/restore-test", json={"confirm": True})
    assert refused.status_code == 409
    detail = refused.json()["detail"]
    assert detail.startswith(f"restoring {seeded.name}/{taken['backup_id']} needs about 15.0 PB")
    assert client.get("/api/v1/backups").json()["lastRestoreTest"] is None  # nothing recorded

    tested = client.post("/api/v1/backups/restore-test", json={"confirm": True, "skipSpaceCheck": True})
    assert tested.status_code == 200
    body = tested.json()
    assert body["passed"] is True
    assert (body["scratch_space"]["skipped"], body["scratch_space"]["fits"]) == (True, None)
