"""What `pgdba serve` checks before it starts: the files and folders its options name exist and parse.

What depends on the database (schema drift, backups' contents, alert state) is still checked per request.
"""

from __future__ import annotations

import os
from pathlib import Path

from pgdba.alerts.rules import load_rules
from pgdba.api.pool_routes import read_bench_report
from pgdba.api.settings import ApiSettings
from pgdba.backup import open_storage
from pgdba.backup.manifest import check_history_store
from pgdba.backup.storage import FileStorage
from pgdba.errors import InputError
from pgdba.schema import load_config, load_source
from pgdba.text_files import read_text_file

FILE_SOURCE_KINDS = ("prisma", "drizzle", "sqlalchemy")


def check_alert_rules(path: Path) -> None:
    read_text_file(path, "--alert-rules file")  # names the file when it is missing or not UTF-8
    load_rules(path)


def check_schema_sources(specs: tuple[str, ...]) -> None:
    """Each schema source parses (`live` sources need the database: they are checked per request)."""
    for spec in specs:
        if spec.partition(":")[0] != "live":
            load_source(spec)


def check_backup_storage(url: str | None) -> None:
    """The storage URL is well formed and a file:// folder exists (an S3 bucket is checked per request)."""
    location = url or os.environ.get("PGDBA_BACKUP_STORAGE")
    if not location:
        return
    try:
        storage = open_storage(location)
    except InputError as exc:  # open_storage speaks of `pgdba backup`'s --storage option
        raise InputError(str(exc).replace("--storage", "--backup-storage")) from None
    if isinstance(storage, FileStorage) and not storage.root.is_dir():
        raise InputError(f"--backup-storage {location}: {storage.root} is not an existing folder")


def check_served_files(settings: ApiSettings) -> None:
    """An InputError (one line) for the first configured file or folder that is missing or does not parse."""
    if settings.pool_bench:
        read_bench_report(Path(settings.pool_bench))
    if settings.alert_rules:
        check_alert_rules(Path(settings.alert_rules))
    check_schema_sources(settings.schema_sources)
    if settings.schema_config:
        load_config(Path(settings.schema_config))
    check_backup_storage(settings.backup_storage)
    check_history_store(settings.history_store)  # snapshots, reports, backups and restore tests land there
