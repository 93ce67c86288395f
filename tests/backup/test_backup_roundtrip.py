"""Backup → verify → restore test on the real cluster, through the library and the CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path

import psycopg
import pytest

from pgdba.backup import (
    find_backup,
    list_backups,
    record_restore_test,
    restore_backup,
    restore_test,
    restore_test_history,
    run_backup,
    verify_backup,
)
from pgdba.backup.catalog import FINGERPRINT_V3, V2_KINDS, V3_KINDS
from pgdba.backup.storage import FileStorage
from pgdba.cli import main
from pgdba.errors import InputError
from pgdba.history import open_store
from pgdba.history.store import HistoryStore
from pgdba.target import resolve_target


def _databases(db) -> set[str]:  # type: ignore[no-untyped-def]
    with psycopg.connect(db.cluster.dsn(), autocommit=True) as conn:
        return {r[0] for r in conn.execute("SELECT datname FROM pg_database").fetchall()}


@pytest.mark.catalog
def test_exact_backup_restore_test_passes_with_matching_counts_and_checksums(demo_db, file_storage, tmp_path):
    manifest = run_backup(demo_db.target, file_storage, exact=True)
    assert manifest.exact and manifest.snapshot
    counts = {t.qualified: t.exact_rows for t in manifest.tables}
    assert counts == {
        "audit.behavior_log": 5000,
        "public.app_user": 2000,
        "public.course": 60,
        "public.enrollment": 6000,
    }
    assert all(t.checksum for t in manifest.tables)
    assert manifest.globals_key and manifest.globals_sha256
    assert any(
        line.startswith("index CREATE INDEX enrollment_course_idx") for line in manifest.schema_fingerprint
    )

    info = find_backup(file_storage, None, demo_db.name)
    assert info.status == "complete"
    assert verify_backup(file_storage, info).ok

    before = _databases(demo_db)
    result = restore_test(file_storage, info, demo_db.target)
    assert result.passed, result.to_dict()
    statuses = {c.name: c.status for c in result.checks}
    assert statuses == {
        "roles": "pass",
        "archive.sha256": "pass",
        "pg_restore": "pass",
        "tables.present": "pass",
        "rows.exact": "pass",
        "rows.checksum": "pass",
        "indexes.valid": "pass",
        "constraints.validated": "pass",
        "schema.equal": "pass",
        "schema.model": "pass",
        "sequences.values": "pass",
        "sequences.columns": "pass",
        "large_objects": "pass",
        "large_objects.content": "pass",
        "database.properties": "pass",
    }
    assert {t.table: (t.restored_rows, t.checksum_match) for t in result.tables}["public.enrollment"] == (
        6000,
        True,
    )
    assert result.scratch_dropped and _databases(demo_db) == before

    history = tmp_path / "history.sqlite3"
    record_restore_test(file_storage, info, result, str(history))
    with open_store(str(history)) as store:
        (_, payload), *_ = store.records(demo_db.target.key, "restore_test")
    assert payload["passed"] is True and payload["backup_id"] == info.backup_id
    assert [r["backup_id"] for r in restore_test_history(demo_db.target.key, str(history))] == [
        info.backup_id
    ]
    assert find_backup(file_storage, info.backup_id, None).status == "tested-ok"


@pytest.mark.catalog
def test_restore_test_fails_when_restored_content_differs_from_the_manifest(demo_db, file_storage):
    """The checksums compare content, not just counts: a manifest recorded before an UPDATE must fail."""
    manifest = run_backup(demo_db.target, file_storage, exact=True)
    info = find_backup(file_storage, manifest.backup_id, None)
    assert info.manifest is not None
    # pretend the source had another value in one row when the dump was taken
    for table in info.manifest.tables:
        if table.name == "course":
            table.checksum = "60:1"
    result = restore_test(file_storage, info, demo_db.target)
    assert not result.passed
    failing = [c for c in result.checks if c.status == "fail"]
    assert [c.name for c in failing] == ["rows.checksum"] and "public.course" in failing[0].detail


@pytest.mark.catalog
def test_restore_test_detects_a_schema_difference(demo_db, file_storage):
    manifest = run_backup(demo_db.target, file_storage)
    info = find_backup(file_storage, manifest.backup_id, None)
    assert info.manifest is not None
    info.manifest.schema_fingerprint.append(
        "index CREATE INDEX ghost_idx ON public.course USING btree (title)"
    )
    result = restore_test(file_storage, info, demo_db.target)
    schema = next(c for c in result.checks if c.name == "schema.equal")
    assert schema.status == "fail" and "ghost_idx" in schema.detail
    assert not result.passed


@pytest.mark.catalog
def test_restore_test_uses_pgdba_schema_comparison_against_the_backup_time_model(demo_db, file_storage):
    manifest = run_backup(demo_db.target, file_storage, include_globals=False)
    info = find_backup(file_storage, manifest.backup_id, None)
    assert info.manifest is not None and info.manifest.schema_model is not None
    (course,) = [t for t in info.manifest.schema_model["tables"] if t["name"] == "course"]
    course["columns"]["level"] = {**course["columns"]["title"], "name": "level", "type": "integer"}
    result = restore_test(file_storage, info, demo_db.target)
    model_check = next(c for c in result.checks if c.name == "schema.model")
    assert model_check.status == "fail" and "level" in model_check.detail
    info.manifest.schema_model = {"tables": "not a model"}
    unreadable = restore_test(file_storage, info, demo_db.target)
    assert next(c for c in unreadable.checks if c.name == "schema.model").status == "warn"


@pytest.mark.catalog
def test_restore_refuses_a_non_empty_database_without_force(demo_db, file_storage):
    run_backup(demo_db.target, file_storage, include_globals=False)
    info = find_backup(file_storage, None, demo_db.name)
    with pytest.raises(InputError, match="not empty: pass --force"):
        restore_backup(file_storage, info, demo_db.target, demo_db.name, apply=True)
    # the plan without --apply changes nothing
    copy = f"{demo_db.name}_copy"
    plan = restore_backup(file_storage, info, demo_db.target, copy)
    assert not plan.applied and copy not in _databases(demo_db)
    try:
        done = restore_backup(file_storage, info, demo_db.target, copy, apply=True)
        assert done.ok, done.problems
        with psycopg.connect(demo_db.cluster.dsn(copy)) as conn:
            assert conn.execute("SELECT count(*) FROM enrollment").fetchone() == (6000,)
            conn.execute("INSERT INTO course (title, price) VALUES ('extra', 1)")
            conn.commit()
        forced = restore_backup(file_storage, info, demo_db.target, copy, apply=True, force=True)
        # the copy is restored beside the database first, then put in its place
        assert forced.ok and forced.steps[1].startswith('CREATE DATABASE "pgdba_new_')
        assert forced.steps[-3].startswith(f'ALTER DATABASE "{copy}" RENAME TO "pgdba_old_')
        assert forced.steps[-1].startswith('DROP DATABASE "pgdba_old_')
        with psycopg.connect(demo_db.cluster.dsn(copy)) as conn:
            assert conn.execute("SELECT count(*) FROM course").fetchone() == (60,)
    finally:
        with psycopg.connect(demo_db.cluster.dsn(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{copy}" WITH (FORCE)')


@pytest.mark.catalog
def test_cli_run_list_verify_restore_test(demo_db, backup_dir: Path, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PGDBA_HISTORY", str(tmp_path / "h.sqlite3"))
    url = f"file://{backup_dir}"
    assert main(["backup", "run", "--dsn", demo_db.dsn, "--storage", url, "--exact", "--format", "json"]) == 0
    run = json.loads(capsys.readouterr().out)
    assert run["schema_version"] == 1 and run["tables"] == 4 and len(run["sha256"]) == 64
    assert main(["backup", "list", "--storage", url, "--format", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)["backups"]
    assert [(b["backup_id"], b["status"]) for b in listed] == [(run["backup_id"], "complete")]
    assert main(["backup", "verify", "--storage", url, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True
    assert main(["restore-test", "--dsn", demo_db.dsn, "--storage", url, "--format", "json"]) == 0
    tested = json.loads(capsys.readouterr().out)
    assert tested["passed"] is True and tested["scratch_dropped"] is True
    assert json.loads((backup_dir / demo_db.name / run["backup_id"] / "restore-test.json").read_text())[
        "passed"
    ]
    with HistoryStore(tmp_path / "h.sqlite3") as history:
        backups = history.records(demo_db.target.key, "backup")
        restore_tests = history.records(demo_db.target.key, "restore_test")
    assert [payload["backup_id"] for _, payload in backups] == [run["backup_id"]]
    assert backups[0][1]["ok"] is True and len(restore_tests) == 1
    # the text gives the size readably, with the bytes the JSON gives
    assert main(["backup", "run", "--dsn", demo_db.dsn, "--storage", url]) == 0
    [size_line] = [line for line in capsys.readouterr().out.splitlines() if line.startswith("│ size ")]
    assert re.search(r"│ \d+(\.\d)? (kB|MB) \([\d,]+ bytes\)", size_line), size_line


@pytest.mark.catalog
def test_list_never_shows_a_backup_without_manifest_as_good(demo_db, file_storage: FileStorage, capsys):
    first = run_backup(demo_db.target, file_storage, include_globals=False)
    second = run_backup(demo_db.target, file_storage, include_globals=False)
    file_storage.delete(f"{second.database}/{second.backup_id}/manifest.json")
    statuses = {b.backup_id: b.status for b in list_backups(file_storage)}
    assert statuses == {first.backup_id: "complete", second.backup_id: "incomplete"}
    # the newest *complete* one is chosen, and the incomplete one cannot be verified or tested
    assert find_backup(file_storage, None, None).backup_id == first.backup_id
    incomplete = find_backup(file_storage, second.backup_id, None)
    assert verify_backup(file_storage, incomplete).problems == [
        "incomplete: no manifest (the backup never finished)"
    ]
    with pytest.raises(InputError, match="incomplete"):
        restore_test(file_storage, incomplete, demo_db.target)
    assert main(["backup", "verify", "--all", "--storage", str(file_storage.root), "--format", "json"]) == 1
    verdicts = {b["backup_id"]: b["ok"] for b in json.loads(capsys.readouterr().out)["backups"]}
    assert verdicts == {first.backup_id: True, second.backup_id: False}


@pytest.mark.catalog
def test_password_reaches_pg_dump_by_environment_never_its_command_line(big_db, file_storage):
    demo_db = big_db
    secret = "s3cr3t-Backup-pw"
    demo_db.execute(f"CREATE ROLE backup_reader LOGIN PASSWORD '{secret}' IN ROLE pg_read_all_data")
    try:
        params = psycopg.conninfo.conninfo_to_dict(demo_db.dsn)
        dsn = f"postgresql://backup_reader:{secret}@{params['host']}:{params['port']}/{demo_db.name}"
        command_lines: list[bytes] = []

        def look_at_pg_dump(done: int) -> None:
            for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
                try:
                    text = cmdline.read_bytes()
                except OSError:
                    continue
                if b"pg_dump" in text.split(b"\0")[0]:
                    command_lines.append(text)

        manifest = run_backup(resolve_target(dsn), file_storage, compress=0, progress=look_at_pg_dump)
        assert manifest.dump_size > 0 and manifest.globals_key
        assert command_lines and not any(secret.encode() in c for c in command_lines)
        assert secret not in json.dumps(manifest.to_dict())
    finally:
        demo_db.execute("DROP ROLE backup_reader")


@pytest.mark.catalog
def test_restore_test_on_another_server_given_by_target(demo_db, file_storage, tmp_path, capsys, monkeypatch):
    """--target names the server to restore on; --dsn is then not needed (here: the same cluster)."""
    monkeypatch.setenv("PGDBA_HISTORY", str(tmp_path / "h.sqlite3"))
    monkeypatch.delenv("PGDBA_DSN", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    run_backup(demo_db.target, file_storage)
    other = demo_db.cluster.dsn("postgres")
    args = ["restore-test", "--target", other, "--storage", str(file_storage.root), "--format", "json"]
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["passed"] is True


@pytest.mark.catalog
def test_parallel_directory_format_backup_verifies_and_restore_tests(demo_db, s3_storage):
    manifest = run_backup(demo_db.target, s3_storage, jobs=2, exact=True)
    assert manifest.dump_format == "directory" and manifest.dump_key.endswith("/dump.tar")
    info = find_backup(s3_storage, None, None)
    assert info.status == "complete" and verify_backup(s3_storage, info).ok
    result = restore_test(s3_storage, info, demo_db.target, jobs=2)
    assert result.passed, result.to_dict()
    assert {t.table: t.restored_rows for t in result.tables}["audit.behavior_log"] == 5000


@pytest.mark.catalog
def test_damaged_directory_format_archive_is_detected(demo_db, file_storage):
    manifest = run_backup(demo_db.target, file_storage, jobs=2, include_globals=False)
    path = file_storage.root / manifest.dump_key
    path.write_bytes(path.read_bytes()[: manifest.dump_size // 2])
    result = verify_backup(file_storage, find_backup(file_storage, None, None))
    assert not result.ok
    assert any(p.startswith("pg_restore cannot read the whole archive") for p in result.problems)


@pytest.mark.catalog
def test_without_exact_counts_an_emptied_table_still_fails(demo_db, file_storage):
    manifest = run_backup(demo_db.target, file_storage, include_globals=False)
    info = find_backup(file_storage, manifest.backup_id, None)
    assert info.manifest is not None and not info.manifest.exact
    for table in info.manifest.tables:
        if table.name == "course":  # 60 rows really; pretend the planner had seen 5000
            table.row_estimate = 5000
        if table.name == "behavior_log":
            table.row_estimate = 4800  # within 10 % of the 5000 restored: fine
    result = restore_test(file_storage, info, demo_db.target)
    rows = next(c for c in result.checks if c.name == "rows.estimate")
    assert rows.status == "warn" and "public.course 60 vs ~5000" in rows.detail
    assert "behavior_log" not in rows.detail
    assert result.passed  # estimates alone never fail a restore, unless a table came back empty
    demo_db.execute("CREATE TABLE emptied (id int)")
    manifest = run_backup(demo_db.target, file_storage, include_globals=False)
    info = find_backup(file_storage, manifest.backup_id, None)
    assert info.manifest is not None
    next(t for t in info.manifest.tables if t.name == "emptied").row_estimate = 3000
    result = restore_test(file_storage, info, demo_db.target)
    rows = next(c for c in result.checks if c.name == "rows.estimate")
    assert rows.status == "fail" and "public.emptied empty, ~3000 expected" in rows.detail
    assert not result.passed


@pytest.mark.catalog
def test_checksum_covers_the_whole_row_even_with_a_column_named_like_the_alias(db, file_storage):
    db.execute("CREATE TABLE odd (pgdba_row int, t text); INSERT INTO odd VALUES (1, 'a'), (1, 'b')")
    manifest = run_backup(db.target, file_storage, exact=True, include_globals=False)
    with psycopg.connect(db.dsn, autocommit=True) as conn:
        conn.execute("UPDATE odd SET t = 'c' WHERE t = 'b'")
        after = run_backup(db.target, file_storage, exact=True, include_globals=False)
    (before_odd,) = [t for t in manifest.tables if t.name == "odd"]
    (after_odd,) = [t for t in after.tables if t.name == "odd"]
    assert before_odd.exact_rows == after_odd.exact_rows == 2
    assert before_odd.checksum != after_odd.checksum


SECURED_SQL = """
CREATE DOMAIN public.email AS text CHECK (VALUE LIKE '%@%');
CREATE TABLE public.note (id int PRIMARY KEY, owner name NOT NULL DEFAULT current_user, author public.email,
                          body text) WITH (fillfactor = 80, autovacuum_vacuum_scale_factor = 0.02);
ALTER TABLE public.note ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_notes ON public.note FOR SELECT TO PUBLIC USING (owner = current_user);
CREATE POLICY write_own ON public.note AS RESTRICTIVE FOR INSERT TO PUBLIC WITH CHECK (owner = current_user);
CREATE STATISTICS public.note_owner_author (ndistinct, dependencies) ON owner, author FROM public.note;
CREATE TABLE public.event (at timestamptz NOT NULL, kind text) PARTITION BY RANGE (at);
CREATE TABLE public.event_2026 PARTITION OF public.event FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
INSERT INTO public.note (id, author, body) VALUES (1, 'a@b.c', 'x');
"""


@pytest.mark.catalog
def test_the_restore_test_compares_row_security_policies_storage_and_partitions(db, file_storage):
    """A restored copy without its row security would hand every user every row: the fingerprint holds
    the table's row security, each policy (command, roles, expressions), storage parameters, partition
    bounds and keys, extended statistics and domains, and a difference in one fails schema.equal."""
    db.execute(SECURED_SQL)
    manifest = run_backup(db.target, file_storage)
    kinds = {line.split(" ", 1)[0] for line in manifest.schema_fingerprint}
    assert {"row_security", "policy", "storage", "partition", "partitioned", "statistics", "domain"} <= kinds
    assert "row_security public.note enabled=t forced=f" in manifest.schema_fingerprint
    info = find_backup(file_storage, manifest.backup_id, None)
    assert info.manifest is not None
    result = restore_test(file_storage, info, db.target)
    assert next(c for c in result.checks if c.name == "schema.equal").status == "pass", result.to_dict()

    # a source whose policy read another expression: the restored copy's is reported
    lines = info.manifest.schema_fingerprint
    [policy] = [i for i, line in enumerate(lines) if line.startswith("policy public.note own_notes ")]
    lines[policy] = lines[policy].replace("using=(owner = CURRENT_USER)", "using=true")
    assert "using=true" in lines[policy]
    failed = restore_test(file_storage, info, db.target)
    schema = next(c for c in failed.checks if c.name == "schema.equal")
    assert schema.status == "fail" and "own_notes" in schema.detail and not failed.passed

    # a manifest from before these kinds were fingerprinted is compared on the kinds it has
    v1_kinds = V2_KINDS | V3_KINDS | {"fingerprint"}  # a v1 manifest has no `fingerprint vN` line either
    info.manifest.schema_fingerprint = [line for line in lines if line.split(" ", 1)[0] not in v1_kinds]
    assert len(info.manifest.schema_fingerprint) < len(lines)
    old = restore_test(file_storage, info, db.target)
    assert next(c for c in old.checks if c.name == "schema.equal").status == "pass", old.to_dict()


GRANTED_SQL = """
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'fingerprint_reader') THEN
    CREATE ROLE fingerprint_reader;
  END IF;
END $$;
CREATE SCHEMA app;
CREATE TABLE app.account (id serial PRIMARY KEY, email text, password_hash text);
CREATE FUNCTION app.touch(i int) RETURNS int LANGUAGE sql AS $f$ SELECT i $f$;
GRANT USAGE ON SCHEMA app TO fingerprint_reader;
GRANT SELECT (id, email) ON app.account TO fingerprint_reader;
GRANT INSERT ON app.account TO fingerprint_reader;
GRANT USAGE ON SEQUENCE app.account_id_seq TO fingerprint_reader WITH GRANT OPTION;
REVOKE EXECUTE ON FUNCTION app.touch(int) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.touch(int) TO fingerprint_reader;
CREATE PUBLICATION account_changes FOR TABLE app.account WITH (publish = 'insert, update');
"""


@pytest.mark.catalog
def test_the_restore_test_compares_privileges_and_publications(db, file_storage, server_major):
    """A restored copy whose application role lost a grant (a column's, a sequence's, a function's EXECUTE)
    fails at the first request, and one without its publication stops feeding subscribers: the fingerprint
    holds every privilege other than the object's defaults (grantor left out) and each publication."""
    db.execute(GRANTED_SQL)
    if server_major >= 15:
        db.execute("CREATE PUBLICATION app_schema FOR TABLES IN SCHEMA app")
    manifest = run_backup(db.target, file_storage)
    lines = manifest.schema_fingerprint
    assert "grant column app.account.email fingerprint_reader:SELECT" in lines
    assert "grant sequence app.account_id_seq fingerprint_reader:USAGE*," in " ".join(lines) + ","
    assert any(
        line.startswith("grant relation app.account ") and "fingerprint_reader:INSERT" in line
        for line in lines
    )
    assert any(line.startswith("grant function app.touch(i integer) ") for line in lines)
    assert "grant schema app" in " ".join(lines)
    assert "publication_table account_changes app.account" in lines
    assert ("publication_schema app_schema app" in lines) == (server_major >= 15)
    assert not any(line.startswith("grant column app.account.password_hash") for line in lines)
    info = find_backup(file_storage, manifest.backup_id, None)
    assert info.manifest is not None
    result = restore_test(file_storage, info, db.target)
    assert next(c for c in result.checks if c.name == "schema.equal").status == "pass", result.to_dict()

    # the source granted a column the restored copy does not: reported
    info.manifest.schema_fingerprint = [
        *lines,
        "grant column app.account.password_hash fingerprint_reader:SELECT",
    ]
    failed = restore_test(file_storage, info, db.target)
    schema = next(c for c in failed.checks if c.name == "schema.equal")
    assert schema.status == "fail" and "password_hash" in schema.detail and not failed.passed

    # a manifest from before privileges were fingerprinted is compared on the kinds it has
    info.manifest.schema_fingerprint = [
        line for line in lines if line != FINGERPRINT_V3 and line.split(" ", 1)[0] not in V3_KINDS
    ]
    assert len(info.manifest.schema_fingerprint) < len(lines)
    old = restore_test(file_storage, info, db.target)
    assert next(c for c in old.checks if c.name == "schema.equal").status == "pass", old.to_dict()
