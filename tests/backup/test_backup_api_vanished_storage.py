"""GET /api/v1/backups answers 409 when the backup storage folder has vanished (an unmounted disk) since
`serve` started: an empty list would say "no backups" when the backups are only out of reach."""

from __future__ import annotations

import shutil
from pathlib import Path

from fastapi.testclient import TestClient

from pgdba.api.app import create_app
from pgdba.api.settings import ApiSettings
from pgdba.backup import run_backup
from pgdba.backup.storage import FileStorage
from tests.conftest import TestDatabase


def test_api_backup_list_of_a_vanished_storage_folder_is_409_naming_it(
    db: TestDatabase, tmp_path: Path
) -> None:
    folder = tmp_path / "mounted" / "backups"
    storage_url = f"file://{folder}"
    backup = run_backup(db.target, FileStorage(folder), include_globals=False)
    settings = ApiSettings(
        db.target, token="t", history_store=str(tmp_path / "history.sqlite3"), backup_storage=storage_url
    )
    client = TestClient(create_app(settings), headers={"Authorization": "Bearer t"})
    listed = client.get("/api/v1/backups")
    assert listed.status_code == 200
    assert [b["backup_id"] for b in listed.json()["backups"]] == [backup.backup_id]

    shutil.rmtree(folder)
    gone = client.get("/api/v1/backups")
    assert gone.status_code == 409, gone.text
    detail = gone.json()["detail"]
    assert storage_url in detail and "\n" not in detail

    tested = client.post("/api/v1/backups/restore-test", json={"confirm": True})
    assert tested.status_code == 409 and storage_url in tested.json()["detail"]
