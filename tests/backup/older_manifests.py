"""A real backup's manifest rewritten as an earlier pgdba wrote it (without the fields it did not record)."""

from __future__ import annotations

import json
from pathlib import Path

from pgdba.backup.manifest import MANIFEST_NAME, Manifest

RESTORE_FACTS = ("sequences", "large_objects", "large_objects_at_dump_end", "large_object_digests")


def as_written_before(backup_dir: Path, manifest: Manifest, fields: tuple[str, ...] = RESTORE_FACTS) -> None:
    """Remove `fields` from the stored manifest of `manifest`'s backup in a file storage at `backup_dir`."""
    path = backup_dir / manifest.database / manifest.backup_id / MANIFEST_NAME
    old = json.loads(path.read_text())
    for key in fields:
        old.pop(key)
    path.write_text(json.dumps(old))
