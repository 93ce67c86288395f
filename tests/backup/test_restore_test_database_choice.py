"""`restore-test` without --database, on a store holding backups of several databases, tests the --dsn
database's (saying so), as the scheduled job needs; when the --dsn database has none it is still an error."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from pgdba.alerts.schedule import JobRuntime, schedule_jobs
from pgdba.backup import list_backups, run_backup
from pgdba.backup.storage import FileStorage
from pgdba.cli import main
from pgdba.history.store import HistoryStore


@pytest.fixture
def two_databases_in_one_store(db, named_database, file_storage: FileStorage):  # type: ignore[no-untyped-def]
    """The store holds a backup of `db` (the --dsn database) and one of another database."""
    other = named_database(f"other_{uuid.uuid4().hex[:6]}")
    own = run_backup(db.target, file_storage, include_globals=False)
    run_backup(other, file_storage, include_globals=False)  # the newest backup in the store
    assert len({b.database for b in list_backups(file_storage)}) == 2
    return own


def test_restore_test_tests_the_dsn_databases_backup_when_the_store_holds_several(
    db, two_databases_in_one_store, backup_dir: Path, tmp_path: Path, capsys
):
    own = two_databases_in_one_store
    history = tmp_path / "history.sqlite3"
    argv = ["restore-test", "--dsn", db.dsn, "--storage", f"file://{backup_dir}", "--store", str(history)]
    assert main([*argv, "--format", "json"]) == 0
    out, err = capsys.readouterr()
    tested = json.loads(out)
    assert (tested["database"], tested["backup_id"], tested["passed"]) == (db.name, own.backup_id, True)
    assert f"pgdba: note: chose database {db.name!r}, the --dsn one, of the 2 databases" in err
    assert json.loads((backup_dir / db.name / own.backup_id / "restore-test.json").read_text())["passed"]
    with HistoryStore(history) as store:
        assert len(store.records(db.target.key, "restore_test")) == 1


def test_restore_test_is_still_an_error_when_the_dsn_database_has_no_backup_among_several(
    db, two_databases_in_one_store, named_database, backup_dir: Path, tmp_path: Path, capsys
):
    without = named_database(f"none_{uuid.uuid4().hex[:6]}")
    history = tmp_path / "history.sqlite3"
    argv = [
        "restore-test",
        "--dsn",
        without.dsn,
        "--storage",
        f"file://{backup_dir}",
        "--store",
        str(history),
    ]
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [
        f"pgdba: error: the store holds backups of several databases (none of {without.database!r}, the --dsn "
        "database): pass --database"
    ]
    assert not list(backup_dir.rglob("restore-test.json"))


def test_the_scheduled_restore_test_job_runs_on_a_store_shared_by_several_databases(
    db, two_databases_in_one_store, backup_dir: Path, tmp_path: Path, monkeypatch, capsys
):
    """The job has no --database: it reads PGDBA_DSN and PGDBA_BACKUP_STORAGE from the env file."""
    own = two_databases_in_one_store
    runtime = JobRuntime(logs=tmp_path, state=tmp_path, flock=None)
    history = tmp_path / "history.sqlite3"
    jobs = schedule_jobs(env_file=str(tmp_path / "pgdba.env"), store=str(history), runtime=runtime)
    (job,) = [job for job in jobs if job.name == "restore-test"]
    assert "--database" not in job.args
    monkeypatch.setenv("PGDBA_DSN", db.dsn)
    monkeypatch.setenv("PGDBA_BACKUP_STORAGE", f"file://{backup_dir}")
    assert main(list(job.args)) == 0
    assert f"restore test of {db.name}/{own.backup_id}: PASSED" in capsys.readouterr().out
    with HistoryStore(history) as store:
        assert len(store.records(db.target.key, "restore_test")) == 1
