"""`pgdba backup run|list|verify|restore|prune` and `pgdba restore-test`: thin wrappers over pgdba.backup."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import DownloadColumn, Progress, SpinnerColumn, TextColumn, TransferSpeedColumn

from pgdba.backup import (
    RetentionPolicy,
    find_backup,
    list_backups,
    locate_backup,
    open_storage,
    prune_backups,
    record_restore_test,
    restore_backup,
    restore_test,
    run_backup,
    verify_backup,
)
from pgdba.backup.dump import (
    DEFAULT_CHECKSUM_LIMIT_BYTES,
    MAX_CHECKSUM_LIMIT_MB,
    MAX_JOBS,
    MAX_LOCK_TIMEOUT_MS,
    MB,
)
from pgdba.backup.encryption import age_identity, age_recipients, unused_identity_note
from pgdba.backup.manifest import BackupInfo, check_history_store, record_backup, record_failed_backup
from pgdba.backup.restore import choose_backup_to_restore
from pgdba.backup.retention import (
    MAX_KEEP_COUNT,
    MAX_KEEP_WITHIN_DAYS,
    RetentionPlan,
    plan_server_retention,
    plan_store_retention,
)
from pgdba.backup.server_identity import (
    ServerReached,
    backups_for_server,
    short_identifier,
    target_system_identifier,
)
from pgdba.backup.storage import Storage, require_existing_folder
from pgdba.backup.verify import VerifyResult, verify_or_say_why_not
from pgdba.cli.options import DsnOption, FormatOption, StoreOption, check_format, target_from
from pgdba.errors import InputError
from pgdba.render import Column, console, print_json, print_rows
from pgdba.target import DEFAULT_LOCK_TIMEOUT_MS, resolve_target
from pgdba.units import format_bytes

app = typer.Typer(
    help="Backups with pg_dump to a folder or S3/R2, verified, restorable, pruned.", no_args_is_help=True
)

StorageOption = Annotated[
    str | None,
    typer.Option(
        "--storage", help="file:///path or s3://bucket/prefix (else PGDBA_BACKUP_STORAGE)", show_default=False
    ),
]
EndpointOption = Annotated[
    str | None,
    typer.Option(
        "--endpoint-url",
        help="S3-compatible endpoint, e.g. https://ACCOUNT.r2.cloudflarestorage.com (else AWS_ENDPOINT_URL)",
        show_default=False,
    ),
]
RegionOption = Annotated[
    str | None, typer.Option("--region", help="S3 region (R2: auto); else the AWS configuration")
]
ProfileOption = Annotated[str | None, typer.Option("--profile", help="AWS credentials profile")]
DatabaseOption = Annotated[
    str | None, typer.Option("--database", help="only backups of this database", show_default=False)
]
DumpJobsOption = Annotated[
    int,
    typer.Option(
        "--jobs",
        "-j",
        help=f"parallel pg_dump jobs (1 to {MAX_JOBS}): above 1, directory format (needs local disk for one "
        "copy)",
    ),
]
# `--history`, the old name of these commands' `--store`: kept, hidden, so existing crontabs still run
HistoryAliasOption = Annotated[str | None, typer.Option("--history", hidden=True)]


def chosen_history_store(store: str | None, history: str | None) -> str | None:
    """The history store named by --store or by its old spelling --history; both naming different files is
    an error rather than a silent choice."""
    if store is not None and history is not None and store != history:
        raise InputError(f"--store {store} and --history {history} name different history stores; give one")
    return store if store is not None else history


RestoreJobsOption = Annotated[
    int,
    typer.Option(
        "--jobs",
        "-j",
        help=f"parallel pg_restore jobs (1 to {MAX_JOBS}) for backups taken with --jobs; a custom-format "
        "archive is restored with one",
    ),
]
AgeIdentityOption = Annotated[
    Path | None,
    typer.Option(
        "--age-identity",
        help="age key file for encrypted backups (else PGDBA_BACKUP_AGE_IDENTITY); given for a backup "
        "that is not encrypted, it is not used and a note says so on stderr",
        show_default=False,
    ),
]
ServerDsnOption = Annotated[
    str | None,
    typer.Option(
        "--dsn",
        help="only the backups of this server (its system identifier; backups of an earlier pgdba, which "
        "recorded none, count as its own); given here only, not read from PGDBA_DSN",
        show_default=False,
    ),
]
BackupArgument = Annotated[
    str | None, typer.Argument(help="backup id (or DATABASE/ID); default: the newest complete backup")
]


def _storage(url: str | None, endpoint: str | None, region: str | None, profile: str | None) -> Storage:
    return open_storage(url, endpoint_url=endpoint, region=region, profile=profile)


def _existing_storage(
    url: str | None, endpoint: str | None, region: str | None, profile: str | None
) -> Storage:
    """The store to read backups from: a folder that does not exist is an error, not an empty store."""
    store = _storage(url, endpoint, region, profile)
    require_existing_folder(store)
    return store


@contextmanager
def _byte_progress(description: str, total: int | None = None) -> Iterator[Callable[[int], None]]:
    """Bytes moved so far, on stderr, only when stderr is a terminal (cron logs stay clean)."""
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=console(stderr=True),
        transient=True,
        disable=not sys.stderr.isatty(),
    )
    with progress:
        task = progress.add_task(description, total=total)
        yield lambda done: progress.update(task, completed=done)


@contextmanager
def recording_failures(target_key: str, storage_url: str, history: str | None) -> Iterator[ServerReached]:
    """A backup run that fails (or is interrupted: cron's `timeout`, Ctrl-C) is recorded as a failed
    backup in the history store, then its error goes on as before; a failure to record it only adds a
    note on stderr. The run fills in the ServerReached yielded once it has connected: the record then
    names the server (before that it has no identifier, and counts for every server under the key)."""
    started = datetime.now(UTC)
    reached = ServerReached()
    try:
        yield reached
    except (Exception, KeyboardInterrupt) as exc:
        try:
            record_failed_backup(target_key, storage_url, started, exc, history, reached.system_identifier)
        except Exception as record_error:
            print(
                f"pgdba: note: the failed backup was not recorded in the history store: {record_error}",
                file=sys.stderr,
            )
        raise


@app.command("run")
def run_command(
    dsn: DsnOption = None,
    storage: StorageOption = None,
    endpoint_url: EndpointOption = None,
    region: RegionOption = None,
    profile: ProfileOption = None,
    exact: Annotated[
        bool,
        typer.Option("--exact", help="count rows (and checksum small tables) in the dump's own snapshot"),
    ] = False,
    checksum_limit_mb: Annotated[
        int,
        typer.Option(
            "--checksum-limit-mb",
            help=f"with --exact: checksum tables up to this size (0 to {MAX_CHECKSUM_LIMIT_MB})",
        ),
    ] = DEFAULT_CHECKSUM_LIMIT_BYTES // MB,
    compress: Annotated[
        int | None, typer.Option("--compress", help="pg_dump compression level 0-9 (default: pg_dump's)")
    ] = None,
    no_globals: Annotated[
        bool, typer.Option("--no-globals", help="skip pg_dumpall --globals-only (roles, tablespaces)")
    ] = False,
    jobs: DumpJobsOption = 1,
    lock_timeout: Annotated[
        int,
        typer.Option(
            "--lock-timeout",
            help="ms to wait for a table lock, in pgdba's queries and as pg_dump's --lock-wait-timeout "
            f"(0 = wait forever, up to {MAX_LOCK_TIMEOUT_MS}): a backup behind DDL fails instead of hanging",
        ),
    ] = DEFAULT_LOCK_TIMEOUT_MS,
    history_store: StoreOption = None,
    history_alias: HistoryAliasOption = None,
    age_recipient: Annotated[
        list[str] | None,
        typer.Option(
            "--age-recipient",
            help="encrypt with age for this public key (repeatable; else PGDBA_BACKUP_AGE_RECIPIENT)",
            show_default=False,
        ),
    ] = None,
    fmt: FormatOption = "table",
) -> None:
    """Dump a database (pg_dump custom format) into the storage; the manifest is written last.

    Example: pgdba backup run --dsn postgresql://app@db/app --storage s3://backups/pg --exact
    """
    check_format(fmt)
    target = target_from(dsn, lock_timeout=lock_timeout)
    history = chosen_history_store(history_store, history_alias)
    check_history_store(history)  # a bad --store must not turn a stored backup into a "failed" one
    given_storage = storage or os.environ.get("PGDBA_BACKUP_STORAGE", "")
    # from here on a failure (a storage that does not open included: a cron job without its settings) is a
    # failed backup in the history store, which the backup-age alert counts
    with recording_failures(target.key, given_storage, history) as reached:
        store = _storage(storage, endpoint_url, region, profile)
        with _byte_progress("pg_dump") as progress:
            manifest = run_backup(
                target,
                store,
                exact=exact,
                checksum_limit_bytes=checksum_limit_mb * MB,
                compress=compress,
                jobs=jobs,
                include_globals=not no_globals,
                age_recipients=age_recipients(age_recipient),
                progress=progress,
                reached=reached,
            )
    record_backup(target.key, store.url, manifest, history)
    data = {
        "schema_version": 1,
        "storage": store.url,
        "database": manifest.database,
        "backup_id": manifest.backup_id,
        "size": manifest.dump_size,
        "sha256": manifest.dump_sha256,
        "duration_s": round((manifest.finished_at - manifest.started_at).total_seconds(), 2),
        "format": manifest.dump_format,
        "encryption": manifest.encryption,
        "exact": manifest.exact,
        "tables": len(manifest.tables),
        "globals": manifest.globals_key or f"skipped: {manifest.globals_note}",
        "pg_dump": manifest.pg_dump_version,
        "system_identifier": manifest.system_identifier,
    }
    if manifest.system_identifier is None:
        print(
            "pgdba: note: the server's system identifier is not readable (pg_control_system()): this backup "
            "is not told apart from another server's with a database of the same name",
            file=sys.stderr,
        )
    _print_mapping(data, fmt, "backup")


def _note_unused_identity(info: BackupInfo, given: Path | None) -> None:
    """--age-identity given for a backup that is not encrypted: say so rather than ignore it silently."""
    if info.manifest is None:
        return  # incomplete: verify or the restore reports that, encrypted or not
    note = unused_identity_note(f"{info.database}/{info.backup_id}", info.manifest.encryption, given)
    if note:
        print(note, file=sys.stderr)


def _print_mapping(data: dict[str, Any], fmt: str, title: str) -> None:
    """One row per field; the text's size is readable (`32.9 MB (34,474,600 bytes)`), the JSON's a number."""
    rows = [
        {"field": k, "value": f"{format_bytes(v)} ({v:,} bytes)" if k == "size" and isinstance(v, int) else v}
        for k, v in data.items()
        if k != "schema_version"
    ]
    print_rows(rows, [Column("field", title), Column("value", "")], fmt, json_data=data)


LIST_COLUMNS = [
    Column("database", "database"),
    Column("backup_id", "backup"),
    Column("status", "status"),
    Column("size", "bytes", "right"),
    Column("duration_s", "dump s", "right"),
    Column("format", "format"),
    Column("exact", "exact"),
    Column("server_version", "server"),
    Column("server_id", "system id"),
]


@app.command("list")
def list_command(
    storage: StorageOption = None,
    endpoint_url: EndpointOption = None,
    region: RegionOption = None,
    profile: ProfileOption = None,
    database: DatabaseOption = None,
    dsn: ServerDsnOption = None,
    fmt: FormatOption = "table",
) -> None:
    """Backups in the storage, oldest first: incomplete (no manifest), complete, tested-ok, tested-failed,
    with the server each was taken on (system id: the last digits of its system identifier). The table
    shows an archive whose stored size differs from its manifest as damaged, its problem under the table.

    Example: pgdba backup list --storage file:///var/backups/pg --dsn postgresql://app@db/app
    """
    check_format(fmt)
    store = _existing_storage(storage, endpoint_url, region, profile)
    backups = list_backups(store, database)
    data: dict[str, Any] = {"schema_version": 1, "storage": store.url}
    notes: list[str] = []
    if dsn is not None:
        target = target_from(dsn)
        server = backups_for_server(backups, target_system_identifier(target), [target.database])
        backups = server.backups
        data["system_identifier"] = server.system_identifier
        data["other_servers"] = [o.to_dict() for o in server.other_servers]
        notes = [o.note("listed") for o in server.other_servers]
        notes += [server.unattributed_note] if server.unattributed_note else []
        if server.system_identifier is None:
            notes.append("this server's system identifier is not readable (pg_control_system()): all listed")
    rows = [b.to_dict() for b in backups]
    data["backups"] = rows
    table_rows = [_list_table_row(info, row) for info, row in zip(backups, rows, strict=True)]
    print_rows(
        table_rows, LIST_COLUMNS, fmt, title=f"backups in {store.url}", json_data=data, empty="no backups"
    )
    _print_problems(backups, fmt)
    _print_notes(notes, fmt)


def _list_table_row(info: BackupInfo, row: dict[str, Any]) -> dict[str, Any]:
    """A backup as the `list` and `prune` tables show it: a damaged archive says so in place of its status
    (the JSON keeps `status` and carries the reason in `problem`)."""
    status = "damaged" if info.damaged else row["status"]
    return {**row, "status": status, "server_id": short_identifier(row["system_identifier"])}


def _print_problems(backups: list[BackupInfo], fmt: str) -> None:
    """Each listed backup's problem after the table (JSON carries it in the backup's `problem`)."""
    if fmt == "json":
        return
    for info in backups:
        if info.problem:
            print(f"problem: {info.database}/{info.backup_id}: {info.problem}")


def _print_notes(notes: list[str], fmt: str) -> None:
    """Notes after a table (JSON carries the same facts in its fields)."""
    if fmt == "json":
        return
    for note in notes:
        print(f"note: {note}")


@app.command("verify")
def verify_command(
    backup: BackupArgument = None,
    storage: StorageOption = None,
    endpoint_url: EndpointOption = None,
    region: RegionOption = None,
    profile: ProfileOption = None,
    database: DatabaseOption = None,
    every: Annotated[
        bool,
        typer.Option("--all", help="verify every backup in the storage (incomplete ones count as broken)"),
    ] = False,
    age_identity_file: AgeIdentityOption = None,
    fmt: FormatOption = "table",
) -> None:
    """Re-read the whole archive: sha256 and size against the manifest, and pg_restore reads every block.
    Exit 1 when a backup is not good.

    With --all, a backup this machine cannot verify (no pg_restore as new as the pg_dump that wrote it, or
    encrypted and no --age-identity given) is reported as not verified and the others are verified; finding
    no backup at all is a failure too.

    Example: pgdba backup verify --storage s3://backups/pg --database app
    """
    check_format(fmt)
    store = _existing_storage(storage, endpoint_url, region, profile)
    backups = list_backups(store, database) if every else [find_backup(store, backup, database)]
    verify = verify_or_say_why_not if every else verify_backup  # one backup alone: its error, exit 2
    results = []
    for info in backups:
        _note_unused_identity(info, age_identity_file)
        total = info.manifest.dump_size if info.manifest else None
        with _byte_progress(f"verify {info.backup_id}", total) as progress:
            results.append(
                verify(store, info, progress=progress, age_identity=age_identity(age_identity_file))
            )
    if fmt == "json":
        print_json(
            results[0].to_dict()
            if not every
            else {"schema_version": 1, "backups": [r.to_dict() for r in results]}
        )
    else:
        _print_verdicts(results)
    if not results:
        where = f" for database {database!r}" if database else ""
        print(f"no backup found in {store.url}{where}", file=sys.stderr if fmt == "json" else sys.stdout)
    if not results or not all(r.ok for r in results):
        raise typer.Exit(1)


def _print_verdicts(results: list[VerifyResult]) -> None:
    for result in results:
        name = f"{result.database}/{result.backup_id}"
        if result.not_verified:
            print(f"{name}: not verified: {result.not_verified}")
            continue
        verdict = "ok" if result.ok else "BROKEN"
        print(f"{name}: {verdict} ({result.size} bytes read)")
        for problem in result.problems:
            print(f"  - {problem}")


@app.command("restore")
def restore_command(
    backup: BackupArgument = None,
    into: Annotated[str, typer.Option("--into", help="database to restore into (created if missing)")] = "",
    dsn: DsnOption = None,
    storage: StorageOption = None,
    endpoint_url: EndpointOption = None,
    region: RegionOption = None,
    profile: ProfileOption = None,
    database: DatabaseOption = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="replace the database if it exists and is not empty (once the backup is restored beside it)",
        ),
    ] = False,
    no_owner: Annotated[
        bool,
        typer.Option(
            "--no-owner",
            help="do not restore object owners nor the database's owner: the restoring role owns them",
        ),
    ] = False,
    jobs: RestoreJobsOption = 1,
    age_identity_file: AgeIdentityOption = None,
    apply: Annotated[
        bool, typer.Option("--apply", help="actually restore (otherwise print the plan)")
    ] = False,
    fmt: FormatOption = "table",
) -> None:
    """Restore a backup into a database on the --dsn server; refuses a non-empty one without --force.

    Without a backup id: the newest complete backup of the --dsn server when the storage has some of it,
    else of the one server the storage has backups of (of several: give an id).

    The whole archive is checked (sha256, pg_restore --list) and the roles it needs are looked up before
    anything changes; a missing role is refused with its name and where the backup's globals.sql is. The
    backup is restored into a new database of a temporary name, given the source database's owner,
    settings, privileges and comment, and only then put in place of the existing one: a failure leaves the
    existing database as it was.

    Example: pgdba backup restore --storage file:///var/backups/pg --into app_copy --apply
    """
    check_format(fmt)
    if not into:
        raise typer.BadParameter("--into DATABASE is required")
    server = target_from(dsn)
    store = _existing_storage(storage, endpoint_url, region, profile)
    destination = target_system_identifier(server) if backup is None else None
    info = choose_backup_to_restore(store, backup, database, destination)
    _note_unused_identity(info, age_identity_file)
    # with --apply the archive is read twice: checked whole before anything changes, then restored
    total = info.manifest.dump_size * (2 if apply else 1) if info.manifest else None
    with _byte_progress("restore", total) as progress:
        result = restore_backup(
            store,
            info,
            server,
            into,
            force=force,
            apply=apply,
            no_owner=no_owner,
            jobs=jobs,
            progress=progress,
            age_identity=age_identity(age_identity_file),
        )
    if fmt == "json":
        print_json(result.to_dict())
    else:
        if not apply:
            print("plan (pass --apply to run it):")
        else:
            print("applied:" if result.ok else "stopped (see the problems below), the plan was:")
        for step in result.steps:
            print(f"  {step}")
        for problem in result.problems:
            print(f"  problem: {problem}")
        for note in result.notes:
            print(f"  note: {note}")
    if not result.ok:
        raise typer.Exit(1)


PRUNE_COLUMNS = [
    Column("database", "database"),
    Column("server_id", "system id"),
    Column("backup_id", "backup"),
    Column("status", "status"),
    Column("action", "action"),
    Column("reasons", "kept because"),
]


@app.command("prune")
def prune_command(
    storage: StorageOption = None,
    endpoint_url: EndpointOption = None,
    region: RegionOption = None,
    profile: ProfileOption = None,
    database: DatabaseOption = None,
    keep_last: Annotated[
        int | None,
        typer.Option("--keep-last", help=f"keep the N newest complete backups (1 to {MAX_KEEP_COUNT})"),
    ] = None,
    keep_daily: Annotated[
        int | None,
        typer.Option("--keep-daily", help=f"newest backup of each of N days (1 to {MAX_KEEP_COUNT})"),
    ] = None,
    keep_weekly: Annotated[
        int | None,
        typer.Option("--keep-weekly", help=f"newest backup of each of N ISO weeks (1 to {MAX_KEEP_COUNT})"),
    ] = None,
    keep_monthly: Annotated[
        int | None,
        typer.Option("--keep-monthly", help=f"newest backup of each of N months (1 to {MAX_KEEP_COUNT})"),
    ] = None,
    keep_within_days: Annotated[
        int | None,
        typer.Option(
            "--keep-within-days", help=f"keep every backup younger than N days (1 to {MAX_KEEP_WITHIN_DAYS})"
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="list what would be deleted, delete nothing")
    ] = False,
    dsn: ServerDsnOption = None,
    fmt: FormatOption = "table",
) -> None:
    """Delete backups outside the retention rules. The newest backup that passed a restore test and the
    newest complete backup are always kept.

    Give at least one --keep-* rule; each takes 1 or more. A rule of 0 would keep no backup, so it is
    refused (as pgBackRest refuses a retention of 0): leave the option out instead.

    Each server's backups are judged on their own (two servers with a database of the same name in one
    storage never count each other's); with --dsn only that server's are judged, and the other servers'
    under the same database names are counted and left alone. The table shows a damaged archive (its
    stored size differs from its manifest) as damaged, its problem under the table, as `list` does.

    Example: pgdba backup prune --storage s3://backups/pg --keep-daily 7 --keep-weekly 4 --keep-monthly 6 --dry-run
    """
    check_format(fmt)
    policy = RetentionPolicy(
        keep_last=keep_last,
        keep_daily=keep_daily,
        keep_weekly=keep_weekly,
        keep_monthly=keep_monthly,
        keep_within_days=keep_within_days,
    )
    store = _existing_storage(storage, endpoint_url, region, profile)
    server = target_from(dsn) if dsn is not None else None
    system_identifier = target_system_identifier(server) if server else None  # before anything is listed
    backups = list_backups(store, database)
    plan = (
        plan_server_retention(backups, policy, system_identifier, own_databases=[server.database])
        if server
        else plan_store_retention(backups, policy)
    )
    prune_backups(store, plan.decisions, dry_run=dry_run)
    _print_prune(store.url, plan, dry_run, server is not None, fmt)


def _print_prune(storage_url: str, plan: RetentionPlan, dry_run: bool, for_server: bool, fmt: str) -> None:
    rows = [d.to_dict() for d in plan.decisions]
    if dry_run:
        for row in rows:
            if row["action"] == "delete":
                row["action"] = "would delete"
    data: dict[str, Any] = {"schema_version": 1, "storage": storage_url, "dry_run": dry_run, "backups": rows}
    if for_server:
        data["system_identifier"] = plan.system_identifier
        data["other_servers"] = [o.to_dict() for o in plan.other_servers]
    data["notes"] = plan.notes
    backups = [d.backup for d in plan.decisions]
    table_rows = [_list_table_row(info, row) for info, row in zip(backups, rows, strict=True)]
    print_rows(
        table_rows,
        PRUNE_COLUMNS,
        fmt,
        title=("dry run: " if dry_run else "") + f"retention in {storage_url}",
        json_data=data,
        empty="no backups",
    )
    _print_problems(backups, fmt)
    _print_notes(plan.notes, fmt)


CHECK_COLUMNS = [Column("name", "check"), Column("status", "status"), Column("detail", "detail")]


def restore_test_command(
    backup: Annotated[
        str | None, typer.Option("--backup", help="backup id (default: the newest complete one)")
    ] = None,
    dsn: DsnOption = None,
    target: Annotated[
        str | None,
        typer.Option(
            "--target",
            help="restore on this server instead of the --dsn one (the newest backup is then the --dsn "
            "server's when --dsn is given, else the one server's the store has)",
            show_default=False,
        ),
    ] = None,
    storage: StorageOption = None,
    endpoint_url: EndpointOption = None,
    region: RegionOption = None,
    profile: ProfileOption = None,
    database: DatabaseOption = None,
    history_store: StoreOption = None,
    history_alias: HistoryAliasOption = None,
    keep_scratch: Annotated[
        bool, typer.Option("--keep-scratch", help="leave the scratch database for inspection")
    ] = False,
    jobs: RestoreJobsOption = 1,
    age_identity_file: AgeIdentityOption = None,
    skip_space_check: Annotated[
        bool,
        typer.Option(
            "--skip-space-check",
            help="run even when the server's free space looks too small for the scratch database",
        ),
    ] = False,
    fmt: FormatOption = "table",
) -> None:
    """Restore a backup into a scratch database, verify it, drop it, record the result. Exit 1 on failure.

    Creates and drops only its own database (pgdba_restore_test_…), so no --apply is needed. When the
    test cannot run (server unreachable, login refused, the role lacks CREATEDB, the scratch database
    would not fit in the free space) it exits 2 and records nothing, so an earlier result of the backup
    stands. Without --backup it tests the newest complete backup the --dsn server took (another server's
    under the same database name is never picked); without --database, of the --dsn database when the
    storage holds backups of several.

    Before the scratch database is created, the free space of each filesystem the restore writes to is
    checked when this machine can see it (a local server, a role with pg_monitor): the backup's database
    size × 1.5 on the data directory's, the WAL it writes on pg_wal's, each tablespace's objects on its
    own; short anywhere, it refuses in one line naming the filesystem (--skip-space-check runs it anyway);
    when it cannot be measured a note says so and the test runs.
    Example: pgdba restore-test --storage file:///var/backups/pg --dsn postgresql://postgres@localhost/postgres
    """
    check_format(fmt)
    server = resolve_target(target) if target else target_from(dsn)
    store = _existing_storage(storage, endpoint_url, region, profile)
    source = target_from(dsn) if dsn or not target else None  # the server whose backups are tested
    newest_of = target_system_identifier(source) if source and backup is None else None
    preferred = source.database if source and database is None else None
    located = locate_backup(store, backup, database, newest_of, preferred_database=preferred)
    info = located.backup
    history = chosen_history_store(history_store, history_alias)
    check_history_store(history)
    _note_unused_identity(info, age_identity_file)
    total = info.manifest.dump_size if info.manifest else None
    with _byte_progress("restore-test", total) as progress:
        result = restore_test(
            store,
            info,
            server,
            keep_scratch=keep_scratch,
            jobs=jobs,
            progress=progress,
            age_identity=age_identity(age_identity_file),
            space_check=not skip_space_check,
        )
    # once the test has run: a test that cannot run says so in one line (naming the backup)
    space = result.scratch_space
    if space is not None and space.note and not space.skipped:
        print(f"pgdba: note: {space.note}: the restore test ran without a free-space check", file=sys.stderr)
    if space is not None and space.unmeasured:
        print(f"pgdba: note: {space.unmeasured_note}", file=sys.stderr)
    if located.note:
        print(f"pgdba: note: {located.note}", file=sys.stderr)
    record_restore_test(store, info, result, history)
    data = result.to_dict()
    title = f"restore test of {result.database}/{result.backup_id}: {'PASSED' if result.passed else 'FAILED'}"
    caveat = ""
    if result.passed and any(c.name == "roles" and c.status != "pass" for c in result.checks):
        caveat = (
            " — of the data only: a restore with owners and privileges would not get through here (see roles)"
        )
    if fmt == "table":
        print(f"{title} in {result.duration_s:.1f} s{caveat}")
        title = ""
    else:
        title += caveat
    print_rows(data["checks"], CHECK_COLUMNS, fmt, title=title, json_data=data)
    if not result.passed:
        raise typer.Exit(1)
