"""`pgdba restore-test`: restore a backup into a scratch database and prove it is the source's data.

Checks, in order: the archive's sha256 and size, pg_restore's exit status and errors, every table
present, row counts (exact when the backup was taken with exact=True, else against the planner's
estimates, a table the statistics saw emptied by DELETE before the dump being no failure), content
checksums of the tables that have one in the manifest, no invalid index or unvalidated constraint, the
schema equal to the one recorded at backup time, every sequence at the value pg_dump read (between the
backup start and the dump end: sequences are not transactional), no sequence owned by a column behind
that column's values (the next INSERT would hit a duplicate key), as many large objects as the source
had, and the contents of those the backup digested (a bounded sample) identical to the source's. The
scratch database is dropped afterwards; the result is recorded next to the backup and in the history
store.

The copy is restored as `pgdba backup restore` restores: with object owners and privileges, created with
the source's encoding and locale, then given the source database's owner, settings, privileges and
comment (recorded in the manifest), which are read back and compared. When the server lacks a role the
backup needs (or the restoring role is no superuser and cannot give objects to their owners), the data is
restored without owners and privileges and the `roles` check says why a real restore would not get
through here: a warning when the backup's globals.sql defines the missing roles, a failure when it has no
globals.sql.

pg_restore is chosen by the major of the pg_dump that wrote the archive (an older one cannot read it).

Before the scratch database is created, the server's free space is checked where this machine can see it
(scratch_space.py: the data directory's filesystem, pg_wal's and the tablespaces'): a copy that would not
fit is refused, and the test does not run.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from pgdba.backup.archive import ArchiveRead, read_archive, read_table_of_contents
from pgdba.backup.catalog import (
    FINGERPRINT_VERSIONS,
    LargeObjectUnreadable,
    catalog_fingerprint,
    count_and_checksum,
    count_large_objects,
    count_rows,
    large_object_digest,
    normalize_session,
    schema_differences,
    sequence_value,
    sequence_values,
)
from pgdba.backup.database_properties import (
    DATABASE_OWNER,
    NAMED_IN_PRIVILEGES,
    OWNS_OBJECTS,
    DatabaseProperties,
    apply_property_statements,
    existing_roles,
    missing_roles,
    properties_of,
    property_differences,
    property_statements,
    read_database_properties,
    roles_needed,
    toc_owners,
)
from pgdba.backup.dump import check_jobs, untracked_client_environment
from pgdba.backup.encryption import decrypt_argv
from pgdba.backup.manifest import (
    RESTORE_TEST_NAME,
    BackupInfo,
    LargeObjectDigest,
    LargeObjectDigests,
    Manifest,
    SequenceFacts,
    TableFacts,
)
from pgdba.backup.restore import RESTORING_ROLE_SQL, create_database, drop_database, missing_roles_message
from pgdba.backup.scratch_space import (
    NOT_RUN,
    SCRATCH_SPACE_MARGIN,
    ScratchSpace,
    refuse_when_short,
    scratch_space,
)
from pgdba.backup.server_identity import records_of_server
from pgdba.backup.storage import Storage
from pgdba.backup.tools import PgTools, pg_restore_for_archive
from pgdba.errors import ConnectionFailed, InputError, NotAvailable, PgdbaError
from pgdba.target import Target, mask_password

RESTORE_TEST_KIND = "restore_test"
SCRATCH_PREFIX = "pgdba_restore_test_"
# with planner estimates only, a restored count this far off is worth a warning (not a failure)
ESTIMATE_TOLERANCE = 0.10
ESTIMATE_MIN_SLACK = 1000

PASS, WARN, FAIL = "pass", "warn", "fail"


class ScratchDatabaseUnavailable(NotAvailable):
    """The scratch database could not be created: the test did not run, so nothing is recorded."""


def checked_scratch_space(server: Target, backup: BackupInfo, check: bool, margin: float) -> ScratchSpace:
    """scratch_space, refused when short (ScratchSpaceShort); not measured when not `check`."""
    assert backup.manifest is not None
    if not check:
        size = backup.manifest.database_size
        return ScratchSpace(size, margin, None, note="free space not checked, on request", skipped=True)
    space = scratch_space(server, backup.manifest, margin)
    refuse_when_short(space, f"{backup.database}/{backup.backup_id}")
    return space


@dataclass
class Check:
    name: str
    status: str
    detail: str = ""


@dataclass
class TableResult:
    table: str
    expected_rows: int | None
    restored_rows: int | None
    expected_is_exact: bool
    checksum_match: bool | None


@dataclass
class LargeObjectComparison:
    """The digested large objects of the source against the restored copy, by oid."""

    source_total: int  # large objects in the source when the digests were taken
    compared: list[int] = field(default_factory=list)  # restored with the source's contents
    compared_bytes: int = 0
    differ: list[str] = field(default_factory=list)  # "oid N: what differs"
    missing: list[int] = field(default_factory=list)
    changed_during_dump: list[int] = field(default_factory=list)  # restored as read after the dump
    uncertain: list[str] = field(default_factory=list)  # differ, but changed while the dump ran
    gone_during_dump: list[int] = field(default_factory=list)  # deleted while the dump ran, not restored
    unreadable: list[int] = field(default_factory=list)  # the restoring role may not read them
    not_covered: dict[str, int] = field(default_factory=dict)  # not digested at backup time, by reason

    def to_dict(self) -> dict[str, Any]:
        return {
            "source_total": self.source_total,
            "compared": len(self.compared),
            "compared_bytes": self.compared_bytes,
            "differ": self.differ,
            "missing": self.missing,
            "changed_during_dump": self.changed_during_dump,
            "uncertain": self.uncertain,
            "gone_during_dump": self.gone_during_dump,
            "unreadable": self.unreadable,
            "not_covered": self.not_covered,
        }


@dataclass
class RestoreTestResult:
    database: str
    backup_id: str
    target_key: str
    scratch_database: str
    started_at: datetime
    duration_s: float = 0.0
    checks: list[Check] = field(default_factory=list)
    tables: list[TableResult] = field(default_factory=list)
    scratch_dropped: bool = False
    system_identifier: str | None = None  # of the server the backup was taken on (None: not recorded)
    large_object_content: LargeObjectComparison | None = None  # None: the manifest has no digests
    scratch_space: ScratchSpace | None = None  # the free-space check before the scratch database

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(c.status != FAIL for c in self.checks)

    def add(self, name: str, status: str, detail: str = "") -> None:
        self.checks.append(Check(name, status, detail))

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": 1,
            "database": self.database,
            "backup_id": self.backup_id,
            "target": self.target_key,
            "system_identifier": self.system_identifier,
            "passed": self.passed,
            "started_at": self.started_at.isoformat(),
            "duration_s": round(self.duration_s, 2),
            "scratch_database": self.scratch_database,
            "scratch_dropped": self.scratch_dropped,
            "checks": [asdict(c) for c in self.checks],
            "tables": [asdict(t) for t in self.tables],
            "large_object_content": (
                None if self.large_object_content is None else self.large_object_content.to_dict()
            ),
            "scratch_space": None if self.scratch_space is None else self.scratch_space.to_dict(),
        }


def scratch_name(backup_id: str) -> str:
    return f"{SCRATCH_PREFIX}{backup_id.replace('.', '_').lower()}_{secrets.token_hex(3)}"


def restore_test(
    storage: Storage,
    backup: BackupInfo,
    server: Target,
    *,
    keep_scratch: bool = False,
    jobs: int = 1,
    tools: PgTools | None = None,
    environ: Mapping[str, str] | None = None,
    progress: Callable[[int], None] | None = None,
    age_identity: Path | None = None,
    space_check: bool = True,
    space_margin: float = SCRATCH_SPACE_MARGIN,
) -> RestoreTestResult:
    """Restore `backup` into a new scratch database on `server` and verify it (see the module doc).

    First, with space_check, the server's free space is checked where this machine can see it (see
    scratch_space): ScratchSpaceShort when the copy would not fit, and the test does not run; where it
    cannot be measured, the result's scratch_space says why."""
    manifest = backup.manifest
    if manifest is None or not backup.complete:
        raise InputError(
            f"backup {backup.database}/{backup.backup_id} is incomplete (no manifest): it cannot be tested"
        )
    started = time.monotonic()
    scratch = scratch_name(backup.backup_id)
    result = RestoreTestResult(
        backup.database,
        backup.backup_id,
        manifest.target_key,
        scratch,
        datetime.now(UTC),
        system_identifier=manifest.system_identifier,
    )
    check_jobs(jobs)
    result.scratch_space = checked_scratch_space(server, backup, space_check, space_margin)
    tools = tools or pg_restore_for_archive(
        manifest.pg_dump_version, manifest.server_version_num // 10000, environ
    )
    if manifest.encryption == "age":
        decrypt_argv(age_identity)  # a missing key is a usage error, not a failed restore
    props = properties_of(manifest)
    locale_note = create_scratch_database(server, scratch, props)
    try:
        scratch_target = server.with_database(scratch)
        with server.connect() as conn:
            roles = existing_roles(conn)
            row = conn.execute(RESTORING_ROLE_SQL).fetchone()
        restoring_role, superuser = (str(row[0]), bool(row[1])) if row else (None, False)
        listing = read_table_of_contents(
            storage, manifest, tools.pg_restore, dict(environ or {}) or None, age_identity
        )
        as_restore = _check_roles(result, storage, backup, props, listing, roles, restoring_role, superuser)
        dsn, env = untracked_client_environment(scratch_target, environ)
        # with every role there, the restore `pgdba backup restore` runs: owners and privileges included
        argv = [tools.pg_restore, "--no-password", f"--dbname={dsn}"]
        if not as_restore:
            argv[1:1] = ["--no-owner", "--no-acl"]
        if jobs > 1 and manifest.dump_format == "directory":
            argv.append(f"--jobs={jobs}")  # pg_restore reads a piped custom archive with one job only
        read = read_archive(storage, manifest, argv, env, progress, age_identity)
        _check_archive(result, manifest, read)
        # counting whole tables may take longer than the default statement timeout
        unlimited = scratch_target.without_statement_timeout()
        with unlimited.connect() as conn:
            normalize_session(conn)
            _check_tables(result, manifest, conn)
            _check_indexes_and_constraints(result, conn)
            _check_schema(result, manifest, conn)
            _check_schema_model(result, manifest, conn)
            same_as_source = _check_sequence_values(result, manifest, conn)
            _check_sequences_ahead_of_their_columns(result, conn, same_as_source)
            _check_large_objects(result, manifest, conn)
            _check_large_object_contents(result, manifest, conn)
        # last: the source's settings on the copy must not change how the checks above read it
        _check_database_properties(result, server, scratch, props, as_restore, restoring_role, locale_note)
    except (PgdbaError, psycopg.Error) as exc:
        # a test that could not finish is a failed test, and is recorded as one
        result.add("error", FAIL, _first_line(exc))
    finally:
        if not keep_scratch:
            try:
                drop_database(server, scratch)
                result.scratch_dropped = True
            except (PgdbaError, psycopg.Error) as exc:
                result.add("scratch.drop", WARN, f"drop {scratch} by hand: {_first_line(exc)}")
        result.duration_s = time.monotonic() - started
    return result


def create_scratch_database(
    server: Target, scratch: str, props: DatabaseProperties | None = None
) -> str | None:
    """CREATE DATABASE scratch (with the source's encoding and locale when recorded: the note says when the
    server refused them), or an error (never a failed test): a server we cannot reach or a role without
    CREATEDB says nothing about the backup, and must not replace an earlier passing result."""
    try:
        return create_database(server, scratch, props)
    except ConnectionFailed as exc:
        raise ConnectionFailed(f"{exc} ({NOT_RUN})") from None
    except psycopg.errors.InsufficientPrivilege as exc:
        raise ScratchDatabaseUnavailable(
            f"{_first_line(exc)} on {server.key.rsplit('/', 1)[0]}: the role needs CREATEDB to create "
            f"the scratch database ({NOT_RUN})"
        ) from None
    except psycopg.Error as exc:
        raise ScratchDatabaseUnavailable(
            f"cannot create the scratch database {scratch} ({NOT_RUN}): {_first_line(exc)}"
        ) from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return mask_password(text.splitlines()[0] if text else type(exc).__name__)


def _check_archive(result: RestoreTestResult, manifest: Manifest, read: ArchiveRead) -> None:
    if read.sha256 == manifest.dump_sha256 and read.size == manifest.dump_size:
        result.add("archive.sha256", PASS, f"{read.size} bytes, sha256 {read.sha256[:16]}…")
    else:
        result.add(
            "archive.sha256",
            FAIL,
            f"read {read.size} bytes with sha256 {read.sha256}; manifest: {manifest.dump_size} bytes, "
            f"{manifest.dump_sha256}",
        )
    if read.restore_ok:
        result.add("pg_restore", PASS, "exit 0, no errors")
    else:
        shown = "; ".join(read.errors[:3]) or "no error message"
        result.add("pg_restore", FAIL, f"exit {read.returncode}, {len(read.errors)} error line(s): {shown}")


def _check_roles(
    result: RestoreTestResult,
    storage: Storage,
    backup: BackupInfo,
    props: DatabaseProperties | None,
    listing: str | None,
    roles: set[str],
    restoring_role: str | None,
    superuser: bool,
) -> bool:
    """Whether the copy can be restored as `pgdba backup restore` restores (owners and privileges): every
    role the backup needs exists, and the restoring role may give objects to their owners (a superuser).
    Otherwise the data is still restored and checked, without owners and privileges, and the check says
    why a real restore on this server would not get through: a warning when the backup's globals.sql has
    the missing roles, a failure when the backup has no globals.sql to create them from."""
    owners, default_acl_roles = toc_owners(listing or "", roles)
    needed = roles_needed(props, owners)
    for role in default_acl_roles:
        needed.setdefault(role, NAMED_IN_PRIVILEGES)
    missing = missing_roles(needed, roles)
    without = "the data was restored and checked without owners and privileges"
    if missing:
        message = missing_roles_message(backup, storage, missing)
        status = WARN if backup.manifest is not None and backup.manifest.globals_key else FAIL
        result.add(
            "roles", status, f"{message}. `pgdba backup restore` refuses here until they exist; {without}"
        )
        return False
    owning = sorted(
        r for r, why in needed.items() if why in (OWNS_OBJECTS, DATABASE_OWNER) and r != restoring_role
    )
    if owning and not superuser:
        result.add(
            "roles",
            WARN,
            f"{restoring_role} is not a superuser and cannot give objects to {', '.join(owning[:10])} as a "
            f"restore does: {without}",
        )
        return False
    known = "" if listing is not None or props is not None else " (none recorded, table of contents not read)"
    result.add(
        "roles",
        PASS,
        f"the {len(needed)} role(s) the backup needs exist{known}; restored with owners and privileges, as "
        "`pgdba backup restore` does",
    )
    return True


def _check_database_properties(
    result: RestoreTestResult,
    server: Target,
    scratch: str,
    props: DatabaseProperties | None,
    as_restore: bool,
    restoring_role: str | None,
    locale_note: str | None,
) -> None:
    """The source database's owner, settings, privileges and comment applied to the copy as a restore
    applies them, and read back."""
    if props is None:
        result.add(
            "database.properties",
            WARN,
            "the manifest (from an older pgdba) has no database owner, settings, privileges or comment: "
            "a restore cannot give them back",
        )
        return
    if not as_restore:
        result.add(
            "database.properties", WARN, "not applied: the roles they name cannot be used here (see roles)"
        )
        return
    statements = property_statements(scratch, props, restoring_role=restoring_role)
    try:
        with server.connect(apply=True) as conn:
            notes = apply_property_statements(conn, statements)
        with server.connect() as conn:
            got = read_database_properties(conn, scratch, with_object_roles=False)
    except psycopg.Error as exc:
        result.add("database.properties", FAIL, f"a restore cannot apply them: {_first_line(exc)}")
        return
    differences = property_differences(props, got) if got is not None else ["the copy is gone"]
    if differences:
        result.add("database.properties", FAIL, "; ".join(differences))
        return
    notes = [*([locale_note] if locale_note else []), *notes]
    detail = (
        f"owner {props.owner}, {len(props.settings)} setting(s), "
        f"{'default privileges' if props.acl is None else f'{len(props.acl)} privilege(s)'}, "
        f"{'a comment' if props.comment is not None else 'no comment'}: as the source's"
    )
    result.add("database.properties", WARN if notes else PASS, "; ".join([detail, *notes]))


RESTORED_TABLES_SQL = """
SELECT n.nspname,
       c.relname
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind = 'r'
"""


def _near_estimate(rows: int, estimate: int) -> bool:
    """A restored count within ESTIMATE_TOLERANCE (at least ESTIMATE_MIN_SLACK rows) of the estimate."""
    return abs(rows - estimate) <= max(ESTIMATE_TOLERANCE * estimate, ESTIMATE_MIN_SLACK)


def _emptied_by_delete_before_backup(table: TableFacts, planned: int) -> bool:
    """The source's statistics saw the planner's rows deleted (no live row, as many dead ones) before the
    dump: reltuples keeps the old count until the next (auto)vacuum or analyze."""
    live, dead = table.live_rows_estimate, table.dead_rows_estimate
    if live is None or dead is None:
        return False
    return live <= ESTIMATE_TOLERANCE * planned and dead >= (1 - ESTIMATE_TOLERANCE) * planned


def _check_tables(result: RestoreTestResult, manifest: Manifest, conn: psycopg.Connection) -> None:
    present = {(str(r[0]), str(r[1])) for r in conn.execute(RESTORED_TABLES_SQL).fetchall()}
    missing = [t.qualified for t in manifest.tables if (t.schema, t.name) not in present]
    if missing:
        result.add("tables.present", FAIL, f"missing after restore: {', '.join(missing[:10])}")
    else:
        result.add("tables.present", PASS, f"all {len(manifest.tables)} tables")
    wrong_counts: list[str] = []
    off_estimates: list[str] = []
    emptied: list[str] = []
    wrong_checksums: list[str] = []
    checksummed = 0
    for table in manifest.tables:
        if (table.schema, table.name) not in present:
            continue
        match: bool | None = None
        if table.checksum is not None:
            rows, checksum = count_and_checksum(conn, table.schema, table.name)
            match = checksum == table.checksum
            checksummed += 1
            if not match:
                wrong_checksums.append(table.qualified)
        else:
            rows = count_rows(conn, table.schema, table.name)
        exact = table.exact_rows is not None
        expected = table.exact_rows if exact else table.row_estimate
        result.tables.append(TableResult(table.qualified, expected, rows, exact, match))
        if exact and rows != expected:
            wrong_counts.append(f"{table.qualified} {rows} != {expected}")
        elif not exact and rows == 0 and expected is not None and expected >= ESTIMATE_MIN_SLACK:
            if _emptied_by_delete_before_backup(table, expected):
                off_estimates.append(
                    f"{table.qualified} empty, ~{expected} planned but the statistics counted "
                    f"{table.live_rows_estimate} live and {table.dead_rows_estimate} dead rows at backup time"
                )
            else:
                emptied.append(f"{table.qualified} empty, ~{expected} expected")
        elif not exact and expected is not None and not _near_estimate(rows, expected):
            off_estimates.append(f"{table.qualified} {rows} vs ~{expected}")
    if manifest.exact:
        if wrong_counts:
            result.add("rows.exact", FAIL, "; ".join(wrong_counts[:10]))
        else:
            result.add("rows.exact", PASS, "every table has the row count of the dump's snapshot")
    elif emptied:
        result.add("rows.estimate", FAIL, "; ".join(emptied[:10]))
    else:
        status = WARN if off_estimates else PASS
        detail = "; ".join(off_estimates[:10]) or "restored counts within the planner's estimates"
        result.add("rows.estimate", status, detail + " (take backups with --exact for exact counts)")
    if wrong_checksums:
        result.add("rows.checksum", FAIL, f"content differs: {', '.join(wrong_checksums[:10])}")
    elif checksummed:
        result.add("rows.checksum", PASS, f"{checksummed} table(s) identical row by row")
    else:
        result.add("rows.checksum", WARN, "no table checksums in this backup (take it with --exact)")


INVALID_INDEXES_SQL = """
SELECT i.indexrelid::regclass::text
  FROM pg_index i
 WHERE NOT i.indisvalid
    OR NOT i.indisready
"""

UNVALIDATED_CONSTRAINTS_SQL = """
SELECT c.conrelid::regclass::text || '.' || c.conname
  FROM pg_constraint c
 WHERE NOT c.convalidated
   AND c.conrelid <> 0
"""


def _check_indexes_and_constraints(result: RestoreTestResult, conn: psycopg.Connection) -> None:
    invalid = [str(r[0]) for r in conn.execute(INVALID_INDEXES_SQL).fetchall()]
    if invalid:
        result.add("indexes.valid", FAIL, f"invalid: {', '.join(invalid[:10])}")
    else:
        result.add("indexes.valid", PASS, "every index valid and ready")
    unvalidated = [str(r[0]) for r in conn.execute(UNVALIDATED_CONSTRAINTS_SQL).fetchall()]
    # NOT VALID constraints of the source come back NOT VALID: the schema comparison tells those apart
    status = WARN if unvalidated else PASS
    result.add("constraints.validated", status, ", ".join(unvalidated[:10]) or "every constraint validated")


def _check_schema_model(result: RestoreTestResult, manifest: Manifest, conn: psycopg.Connection) -> None:
    """pgdba's schema comparison (pgdba.schema) between the model stored at backup time and the copy."""
    from pgdba.backup.schema_model import schema_model_drift

    if manifest.schema_model is None:
        result.add("schema.model", WARN, "the manifest has no pgdba.schema model")
        return
    try:
        drift = schema_model_drift(manifest.schema_model, conn)
    except (TypeError, KeyError, ValueError) as exc:
        result.add("schema.model", WARN, f"the stored schema model cannot be read by this pgdba: {exc}")
        return
    if drift:
        result.add("schema.model", FAIL, f"{len(drift)} difference(s): {'; '.join(drift[:5])}")
    else:
        result.add("schema.model", PASS, "pgdba.schema finds no drift against the backup-time schema")


def _check_schema(result: RestoreTestResult, manifest: Manifest, conn: psycopg.Connection) -> None:
    if not manifest.schema_fingerprint:
        result.add("schema.equal", WARN, "the manifest has no schema fingerprint")
        return
    only_source, only_restored = schema_differences(manifest.schema_fingerprint, catalog_fingerprint(conn))
    if only_source or only_restored:
        shown = [f"-{line}" for line in only_source[:5]] + [f"+{line}" for line in only_restored[:5]]
        result.add(
            "schema.equal",
            FAIL,
            f"{len(only_source)} object(s) missing, {len(only_restored)} unexpected: {'; '.join(shown)}",
        )
    else:
        markers = {marker for marker, _ in FINGERPRINT_VERSIONS}
        objects = len([line for line in manifest.schema_fingerprint if line not in markers])
        result.add("schema.equal", PASS, f"{objects} schema objects identical")


def _next_value(last_value: int, is_called: bool, increment: int) -> int:
    """What nextval() returns next."""
    return last_value + increment if is_called else last_value


def _dump_window(recorded: SequenceFacts) -> tuple[int, int | None]:
    """The next values the source's sequence had when the backup started and when the dump ended (None:
    not read again)."""
    start = _next_value(recorded.last_value, recorded.is_called, recorded.increment)
    if recorded.dump_end_last_value is None or recorded.dump_end_is_called is None:
        return start, None
    return start, _next_value(recorded.dump_end_last_value, recorded.dump_end_is_called, recorded.increment)


def _within_dump_window(recorded: SequenceFacts, restored_next: int) -> bool:
    """pg_dump read the sequence at one moment of the dump: the restored next value lies between the two
    readings in the sequence's direction (either side of a wrap when it cycled or was set back), or at
    least at the first one when there is no second."""
    sign = 1 if recorded.increment > 0 else -1
    start, end = _dump_window(recorded)
    got = sign * restored_next
    if end is None:
        return got >= sign * start
    low, high = sign * start, sign * end
    if low <= high:
        return low <= got <= high
    return got >= low or got <= high


def _source_value(recorded: SequenceFacts) -> str:
    start, end = _dump_window(recorded)
    if end is None:
        return f"{start} when the backup started"
    return f"{start}" if start == end else f"between {start} and {end} during the dump"


def _check_sequence_values(
    result: RestoreTestResult, manifest: Manifest, conn: psycopg.Connection
) -> set[str]:
    """Each recorded sequence restored at the value pg_dump read; returns those that were."""
    if manifest.sequences is None:
        result.add("sequences.values", WARN, "the manifest (from an older pgdba) has no sequence values")
        return set()
    restored = {s.qualified: s for s in sequence_values(conn)}
    wrong: list[str] = []
    same: set[str] = set()
    for recorded in manifest.sequences:
        copy = restored.get(recorded.qualified)
        if copy is None:
            wrong.append(f"{recorded.qualified} missing after restore")
            continue
        got = _next_value(copy.last_value, copy.is_called, copy.increment)
        if _within_dump_window(recorded, got):
            same.add(recorded.qualified)
            continue
        wrong.append(f"{recorded.qualified} next value {got}, the source's was {_source_value(recorded)}")
    if wrong:
        result.add("sequences.values", FAIL, "; ".join(wrong[:10]))
    else:
        result.add("sequences.values", PASS, f"{len(manifest.sequences)} sequence(s) at the source's values")
    return same


OWNED_SEQUENCES_SQL = """
SELECT sn.nspname AS sequence_schema,
       s.relname AS sequence_name,
       seq.seqincrement AS increment,
       tn.nspname AS table_schema,
       t.relname AS table_name,
       a.attname AS column_name
  FROM pg_depend d
  JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
  JOIN pg_namespace sn ON sn.oid = s.relnamespace
  JOIN pg_sequence seq ON seq.seqrelid = s.oid
  JOIN pg_class t ON t.oid = d.refobjid AND t.relkind IN ('r', 'p')
  JOIN pg_namespace tn ON tn.oid = t.relnamespace
  JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid
 WHERE d.classid = 'pg_class'::regclass
   AND d.refclassid = 'pg_class'::regclass
   AND d.deptype IN ('a', 'i')
   AND a.atttypid IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype)
 ORDER BY sn.nspname, s.relname
"""

# the column's value a new one must pass: its max for an ascending sequence, its min for a descending one
COLUMN_EDGE_SQL = """
SELECT {edge}({column})
  FROM {table}
"""


def _column_edge(
    conn: psycopg.Connection, schema: str, table: str, column: str, ascending: bool
) -> int | None:
    query = sql.SQL(COLUMN_EDGE_SQL).format(
        edge=sql.SQL("max" if ascending else "min"),
        column=sql.Identifier(column),
        table=sql.Identifier(schema, table),
    )
    row = conn.execute(query).fetchone()
    return None if row is None or row[0] is None else int(row[0])


def _behind_its_column(
    conn: psycopg.Connection, owned: tuple[Any, ...], same_as_source: set[str]
) -> tuple[str, bool] | None:
    """What is wrong when an owned sequence's next value is not past its column's values, and whether the
    source is that way too (its restored value is the source's); else None."""
    seq_schema, seq_name, increment, table_schema, table_name, column = owned
    ascending = int(increment) > 0
    next_value = _next_value(*sequence_value(conn, seq_schema, seq_name), int(increment))
    edge = _column_edge(conn, table_schema, table_name, column, ascending)
    if edge is None or (next_value > edge if ascending else next_value < edge):
        return None
    sequence, table = f"{seq_schema}.{seq_name}", f"{table_schema}.{table_name}"
    as_on_source = sequence in same_as_source
    where = " (as on the source)" if as_on_source else ""
    return (
        f"{sequence} hands out {next_value} next but {table}.{column} already holds {edge}{where}: "
        f"the next INSERT collides; SELECT setval('{sequence}', (SELECT {'max' if ascending else 'min'}"
        f"({column}) FROM {table}))"
    ), as_on_source


def _check_sequences_ahead_of_their_columns(
    result: RestoreTestResult, conn: psycopg.Connection, same_as_source: set[str]
) -> None:
    """A serial or identity sequence whose next value is not past its column's values in the copy: the
    application's next INSERT that takes the default fails with a duplicate key."""
    owned = conn.execute(OWNED_SEQUENCES_SQL).fetchall()
    behind = [problem for row in owned if (problem := _behind_its_column(conn, row, same_as_source))]
    lost = [text for text, as_on_source in behind if not as_on_source]
    if lost:
        result.add("sequences.columns", FAIL, "; ".join(lost[:10]))
    elif behind:
        # the copy is faithful: the source's own sequence is behind its column (ids inserted explicitly past
        # it); the backup is good, the source has a problem to fix
        detail = "; ".join(text for text, _ in behind[:10]) + " — the source is the same: fix it there"
        result.add("sequences.columns", WARN, detail)
    else:
        detail = f"{len(owned)} sequence(s) owned by a column, each past its values"
        result.add("sequences.columns", PASS, detail)


def _check_large_objects(result: RestoreTestResult, manifest: Manifest, conn: psycopg.Connection) -> None:
    if manifest.large_objects is None:
        result.add("large_objects", WARN, "the manifest (from an older pgdba) has no large-object count")
        return
    restored = count_large_objects(conn)
    start, end = manifest.large_objects, manifest.large_objects_at_dump_end
    low, high = sorted((start, start if end is None else end))
    if low <= restored <= high:
        moved = "" if low == high else f" (the source went from {start} to {end} while the dump ran)"
        result.add("large_objects", PASS, f"{restored} large object(s), as the source{moved}")
    elif manifest.exact:
        detail = f"{restored} large object(s) restored, the source had {start} in the dump's snapshot"
        result.add("large_objects", FAIL, detail)
    elif end == start:
        detail = f"{restored} large object(s) restored, the source had {start} before and after the dump"
        result.add("large_objects", FAIL, detail)
    else:
        detail = (
            f"{restored} large object(s) restored, the source had {start} before the dump and "
            f"{'?' if end is None else end} after it (take backups with --exact for an exact count)"
        )
        result.add("large_objects", WARN, detail)


LARGE_OBJECT_OIDS_SHOWN = 5
NOT_COVERED_REASONS = {
    "over_object_limit": "past the {max_objects}-object limit",
    "over_byte_limit": "past the {max_bytes}-byte limit",
    "unreadable": "not readable by the backup role (it needs SELECT on them, superuser or "
    "lo_compat_privileges){oids}",
    "vanished": "deleted while being digested",
}


def _check_large_object_contents(
    result: RestoreTestResult, manifest: Manifest, conn: psycopg.Connection
) -> None:
    """The large objects the backup digested have the same size and digest in the copy."""
    digests = manifest.large_object_digests
    if digests is None:
        if manifest.large_objects == 0:
            result.add("large_objects.content", PASS, "the source had no large objects")
        else:
            note = "the manifest (from an older pgdba) has no large-object digests: contents not compared"
            result.add("large_objects.content", WARN, note)
        return
    if digests.total == 0:
        result.add("large_objects.content", PASS, "the source had no large objects")
        return
    compared = compare_large_objects(conn, digests, manifest.exact)
    result.large_object_content = compared
    status, detail = _large_object_verdict(compared)
    coverage = _not_covered_note(digests, compared)
    result.add("large_objects.content", status, f"{detail}{'; ' + coverage if coverage else ''}")


def compare_large_objects(
    conn: psycopg.Connection, digests: LargeObjectDigests, exact: bool
) -> LargeObjectComparison:
    """Digest each recorded large object in the copy (reading no more than the source's size) and sort
    it: same, different, missing, or only different from a reading the concurrent dump may not have seen."""
    compared = LargeObjectComparison(digests.total, not_covered=dict(digests.not_covered))
    for recorded in digests.objects:
        longest = max(recorded.size, recorded.dump_end_size or 0)
        try:
            restored = large_object_digest(conn, recorded.oid, longest, digests.chunk_bytes)
        except LargeObjectUnreadable:
            compared.unreadable.append(recorded.oid)
            continue
        _sort_large_object(compared, recorded, restored, exact, digests.read_at_dump_end)
    return compared


def _sort_large_object(
    compared: LargeObjectComparison,
    recorded: LargeObjectDigest,
    restored: tuple[int, str | None] | None,
    exact: bool,
    read_at_dump_end: bool,
) -> None:
    # without --exact pg_dump read its own snapshot between the two readings: an object that changed
    # (or was not read again) may have any content it had in between
    moved = not exact and (
        not read_at_dump_end or recorded.dump_end_size is not None or recorded.dump_end_missing
    )
    if restored is None:
        if recorded.dump_end_missing:
            compared.gone_during_dump.append(recorded.oid)
        elif moved:
            compared.uncertain.append(f"oid {recorded.oid}: missing, it may have changed during the dump")
        else:
            compared.missing.append(recorded.oid)
    elif restored == (recorded.size, recorded.md5):
        compared.compared.append(recorded.oid)
        compared.compared_bytes += recorded.size
    elif restored == (recorded.dump_end_size, recorded.dump_end_md5):
        compared.compared.append(recorded.oid)
        compared.compared_bytes += restored[0]
        compared.changed_during_dump.append(recorded.oid)
    else:
        size = restored[0]
        what = "other contents" if size == recorded.size else f"{size} bytes"
        text = f"oid {recorded.oid}: {what}, the source's {recorded.size} bytes"
        (compared.uncertain if moved else compared.differ).append(text)


def _large_object_verdict(compared: LargeObjectComparison) -> tuple[str, str]:
    problems: list[str] = []
    if compared.differ:
        problems.append(
            f"contents differ from the source: {', '.join(compared.differ[:LARGE_OBJECT_OIDS_SHOWN])}"
        )
    if compared.missing:
        problems.append(f"missing after restore: {_oids(compared.missing)}")
    counted = (
        f"{len(compared.compared)} large object(s) identical to the source ({compared.compared_bytes} bytes)"
    )
    if problems:
        return FAIL, f"{'; '.join(problems)}; {counted}"
    notes = [counted]
    if compared.changed_during_dump:
        notes.append(
            f"changed while the dump ran, restored as read after it: {_oids(compared.changed_during_dump)}"
        )
    if compared.gone_during_dump:
        notes.append(f"deleted while the dump ran: {_oids(compared.gone_during_dump)}")
    if compared.uncertain:
        notes.append(
            "differ, but they changed while the dump ran (take backups with --exact to compare them "
            f"in the dump's snapshot): {', '.join(compared.uncertain[:LARGE_OBJECT_OIDS_SHOWN])}"
        )
    if compared.unreadable:
        notes.append(f"not readable in the copy: {_oids(compared.unreadable)}")
    status = WARN if compared.uncertain or compared.unreadable or not compared.compared else PASS
    return status, "; ".join(notes)


def _not_covered_note(digests: LargeObjectDigests, compared: LargeObjectComparison) -> str:
    """The source's large objects whose contents were not compared, and why."""
    not_covered = compared.not_covered
    if not not_covered:
        return ""
    limits = {
        "max_objects": digests.max_objects,
        "max_bytes": digests.max_bytes,
        "oids": f" ({_oids(digests.unreadable_oids)})" if digests.unreadable_oids else "",
    }
    parts = [
        f"{count} {NOT_COVERED_REASONS.get(reason, reason).format(**limits)}"
        for reason, count in sorted(not_covered.items(), key=lambda item: _reason_order(item[0]))
    ]
    return f"not compared, of the source's {digests.total}: {', '.join(parts)}"


def _reason_order(reason: str) -> int:
    """NOT_COVERED_REASONS' order (the manifest stores them sorted by name); a newer pgdba's reason last."""
    order = list(NOT_COVERED_REASONS)
    return order.index(reason) if reason in order else len(order)


def _oids(oids: list[int]) -> str:
    shown = ", ".join(f"oid {oid}" for oid in oids[:LARGE_OBJECT_OIDS_SHOWN])
    return shown + (
        f" and {len(oids) - LARGE_OBJECT_OIDS_SHOWN} more" if len(oids) > LARGE_OBJECT_OIDS_SHOWN else ""
    )


def record_restore_test(
    storage: Storage, backup: BackupInfo, result: RestoreTestResult, history_location: str | None = None
) -> None:
    """Keep the result next to the backup (retention reads it) and in the history store (health, alerts)."""
    from pgdba.history import open_store

    payload = result.to_dict()
    storage.put_bytes(backup.key(RESTORE_TEST_NAME), json.dumps(payload, indent=2).encode())
    with open_store(history_location) as store:
        store.add_record(result.target_key, RESTORE_TEST_KIND, payload)


def restore_test_history(
    target_key: str,
    history_location: str | None = None,
    *,
    limit: int = 20,
    system_identifier: str | None = None,
) -> list[dict[str, Any]]:
    """Recorded restore tests of a database (Target.key), newest first: what the health score and the
    alerts read ("no passing restore test in N days"); with system_identifier, not those of another
    server's backups recorded under the same key."""
    from pgdba.history import open_store

    with open_store(history_location) as store:
        records = store.records(target_key, RESTORE_TEST_KIND, limit=limit)
    return [payload for _, payload in records_of_server(records, system_identifier)]
