"""A manifest written by a newer pgdba (fields this version does not know, in the manifest and in its
table and sequence entries) is read with the fields this version knows: the backup is complete, listed,
verified and pruned like any other, never kept unjudged as "unreadable"."""

from __future__ import annotations

import json

from pgdba.backup import list_backups, run_backup
from pgdba.backup.manifest import MANIFEST_NAME
from pgdba.backup.storage import FileStorage
from pgdba.cli import main


def _as_a_newer_pgdba_writes_it(storage: FileStorage, database: str, backup_id: str) -> None:
    path = storage.root / database / backup_id / MANIFEST_NAME
    data = json.loads(path.read_text())
    data["wal_position"] = "0/3000060"
    for table in data["tables"]:
        table["toast_bytes"] = 0
    for sequence in data["sequences"]:
        sequence["data_type"] = "bigint"
    path.write_text(json.dumps(data))


def test_a_manifest_with_fields_of_a_newer_pgdba_is_complete_and_pruned(db, file_storage, capsys):
    db.execute(
        "CREATE TABLE note (id bigserial PRIMARY KEY, body text); INSERT INTO note (body) VALUES ('a')"
    )
    older, newer = (run_backup(db.target, file_storage, include_globals=False) for _ in range(2))
    for manifest in (older, newer):
        _as_a_newer_pgdba_writes_it(file_storage, db.name, manifest.backup_id)

    listed = list_backups(file_storage, db.name)
    assert [(b.backup_id, b.status, b.problem) for b in listed] == [
        (older.backup_id, "complete", None),
        (newer.backup_id, "complete", None),
    ]
    assert listed[0].manifest is not None
    assert [t.qualified for t in listed[0].manifest.tables] == ["public.note"]
    assert [s.qualified for s in listed[0].manifest.sequences or []] == ["public.note_id_seq"]

    url = str(file_storage.root)
    assert main(["backup", "prune", "--storage", url, "--keep-last", "1", "--format", "json"]) == 0
    capsys.readouterr()
    assert [b.backup_id for b in list_backups(file_storage, db.name)] == [newer.backup_id]
