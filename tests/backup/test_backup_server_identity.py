"""Two servers, each with a database of the same name, backing up into one storage: every consumer that
works for one server (prune, the newest-backup choice of restore and restore-test, `list --dsn`, the
backup-age alert) sees that server's backups only, told apart by the cluster's system identifier.

The second server is a real throwaway cluster (tests/clusters.py) with a database of the test database's
name, backing up into the same folder as the suite's cluster."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg import conninfo, sql

from pgdba.alerts.check import collect_samples
from pgdba.alerts.metrics import JobRecords
from pgdba.api.app import create_app
from pgdba.api.settings import ApiSettings
from pgdba.backup import find_backup, list_backups, run_backup
from pgdba.backup.manifest import (
    BACKUP_KIND,
    MANIFEST_NAME,
    BackupInfo,
    Manifest,
    new_backup_id,
    record_backup,
)
from pgdba.backup.restore import choose_backup_to_restore
from pgdba.backup.retention import RetentionPolicy, plan_retention
from pgdba.backup.server_identity import short_identifier
from pgdba.backup.storage import FileStorage
from pgdba.cli import main
from pgdba.embedded import EmbeddedCluster
from pgdba.errors import InputError
from pgdba.history import open_store
from pgdba.server import load_server_facts
from pgdba.target import Target, resolve_target, session
from tests.clusters import own_cluster


@pytest.fixture(scope="module")
def other_server() -> Iterator[EmbeddedCluster]:
    with own_cluster("other-server") as cluster:
        yield cluster


@pytest.fixture
def twin(db, other_server: EmbeddedCluster) -> Iterator[Target]:  # type: ignore[no-untyped-def]
    """A database named like the test database, on the other server."""
    with psycopg.connect(other_server.dsn(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db.name)))
    yield resolve_target(other_server.dsn(db.name))
    with psycopg.connect(other_server.dsn(), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db.name)))


def _system_identifier(dsn: str) -> str:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT system_identifier::text FROM pg_control_system()").fetchone()
    assert row is not None
    return str(row[0])


def _backup(target: Target, storage: FileStorage) -> str:
    return run_backup(target, storage, include_globals=False).backup_id


def _json(capsys: pytest.CaptureFixture[str], argv: list[str], code: int = 0) -> dict:  # type: ignore[type-arg]
    assert main(argv) == code
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


def _drop_identity(storage: FileStorage, database: str, backup_id: str) -> None:
    """The manifest as an earlier pgdba wrote it: no system_identifier."""
    path = storage.root / database / backup_id / MANIFEST_NAME
    data = json.loads(path.read_text())
    del data["system_identifier"]
    path.write_text(json.dumps(data))


def test_every_new_manifest_records_the_system_identifier_of_its_server(db, twin, file_storage):
    mine = run_backup(db.target, file_storage, include_globals=False)
    theirs = run_backup(twin, file_storage, include_globals=False)
    assert mine.system_identifier == _system_identifier(db.dsn)
    assert theirs.system_identifier == _system_identifier(twin.dsn)
    assert mine.system_identifier != theirs.system_identifier
    listed = {b.backup_id: b.to_dict()["system_identifier"] for b in list_backups(file_storage)}
    assert listed == {mine.backup_id: mine.system_identifier, theirs.backup_id: theirs.system_identifier}


def test_prune_keeps_the_last_n_of_each_server_when_two_servers_share_a_database_name(
    db, twin, file_storage, capsys
):
    a1, a2, a3 = (_backup(db.target, file_storage) for _ in range(3))
    b1, b2 = (_backup(twin, file_storage) for _ in range(2))
    url = str(file_storage.root)
    plan = _json(capsys, ["backup", "prune", "--storage", url, "--keep-last", "2", "--format", "json"])
    assert {b["backup_id"]: b["action"] for b in plan["backups"]} == {
        a1: "delete",
        a2: "keep",
        a3: "keep",
        b1: "keep",
        b2: "keep",
    }
    assert {b.backup_id for b in list_backups(file_storage)} == {a2, a3, b1, b2}
    assert {b["system_identifier"] for b in plan["backups"]} == {
        _system_identifier(db.dsn),
        _system_identifier(twin.dsn),
    }


def test_prune_for_a_dsn_leaves_another_servers_backups_alone_and_says_so(db, twin, file_storage, capsys):
    a1, a2 = (_backup(db.target, file_storage) for _ in range(2))
    b1, b2, b3 = (_backup(twin, file_storage) for _ in range(3))
    url = str(file_storage.root)
    theirs = _system_identifier(twin.dsn)
    argv = ["backup", "prune", "--dsn", db.dsn, "--storage", url, "--keep-last", "1"]
    plan = _json(capsys, [*argv, "--dry-run", "--format", "json"])
    assert {b["backup_id"]: b["action"] for b in plan["backups"]} == {a1: "would delete", a2: "keep"}
    assert plan["system_identifier"] == _system_identifier(db.dsn)
    assert plan["other_servers"] == [{"database": db.name, "system_identifier": theirs, "backups": 3}]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert (
        f"3 backups of another server (system identifier {theirs}) under the same database name "
        f"{db.name!r} are not touched"
    ) in " ".join(out.split())
    assert {b.backup_id for b in list_backups(file_storage)} == {a2, b1, b2, b3}


def test_restore_test_of_a_server_tests_the_newest_backup_of_that_server(db, twin, file_storage, capsys):
    mine = _backup(db.target, file_storage)
    _backup(twin, file_storage)  # newer, but another server's
    url = str(file_storage.root)
    result = _json(capsys, ["restore-test", "--dsn", db.dsn, "--storage", url, "--format", "json"])
    assert result["backup_id"] == mine and result["passed"]


def test_restore_picks_the_newest_backup_of_the_server_it_restores_into(db, twin, file_storage, capsys):
    mine = _backup(db.target, file_storage)
    theirs = _backup(twin, file_storage)
    url = str(file_storage.root)
    argv = ["backup", "restore", "--dsn", db.dsn, "--storage", url, "--into", "copy", "--format", "json"]
    assert _json(capsys, argv)["backup_id"] == mine
    # restoring into a server that has no backup here: the newest of which server is not ours to guess
    with pytest.raises(InputError, match="several servers") as refused:
        choose_backup_to_restore(file_storage, None, db.name, "1")
    assert _system_identifier(twin.dsn) in str(refused.value)
    assert choose_backup_to_restore(file_storage, theirs, db.name, "1").backup_id == theirs


def test_the_newest_backup_without_a_server_is_refused_when_several_servers_have_one(db, twin, file_storage):
    mine = _backup(db.target, file_storage)
    _backup(twin, file_storage)
    with pytest.raises(InputError, match=f"backups of several servers under database {db.name!r}"):
        find_backup(file_storage, None, db.name)
    assert find_backup(file_storage, None, db.name, _system_identifier(db.dsn)).backup_id == mine


def test_backup_list_for_a_dsn_shows_that_servers_backups_and_without_one_every_servers(
    db, twin, file_storage, capsys
):
    mine = _backup(db.target, file_storage)
    theirs = _backup(twin, file_storage)
    url = str(file_storage.root)
    listed = _json(capsys, ["backup", "list", "--dsn", db.dsn, "--storage", url, "--format", "json"])
    assert [b["backup_id"] for b in listed["backups"]] == [mine]
    everything = _json(capsys, ["backup", "list", "--storage", url, "--format", "json"])
    assert [b["backup_id"] for b in everything["backups"]] == [mine, theirs]
    assert main(["backup", "list", "--storage", url]) == 0
    table = capsys.readouterr().out
    for dsn in (db.dsn, twin.dsn):
        assert short_identifier(_system_identifier(dsn)) in table


def test_a_manifest_without_a_system_identifier_counts_as_this_servers_as_before(
    db, twin, file_storage, capsys
):
    legacy = _backup(db.target, file_storage)
    _drop_identity(file_storage, db.name, legacy)
    mine = _backup(db.target, file_storage)
    theirs = _backup(twin, file_storage)
    url = str(file_storage.root)
    listed = _json(capsys, ["backup", "list", "--dsn", db.dsn, "--storage", url, "--format", "json"])
    assert [b["backup_id"] for b in listed["backups"]] == [legacy, mine]
    assert listed["backups"][0]["system_identifier"] is None
    assert main(["backup", "prune", "--dsn", db.dsn, "--storage", url, "--keep-last", "1"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert (
        "1 backup without a recorded server identity (taken by an earlier pgdba) counted as this server's"
        in out
    )
    assert {b.backup_id for b in list_backups(file_storage)} == {mine, theirs}


def test_a_role_that_cannot_read_pg_control_system_still_backs_up_without_a_server_identity(
    twin, other_server, file_storage, capsys
):
    role, password = f"plain_{secrets.token_hex(4)}", secrets.token_hex(8)
    with psycopg.connect(other_server.dsn(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(role), password))
        conn.execute(
            sql.SQL("ALTER DATABASE {} OWNER TO {}").format(
                sql.Identifier(twin.database), sql.Identifier(role)
            )
        )
    params = conninfo.conninfo_to_dict(twin.dsn)
    params.update(user=role, password=password)
    params.pop("passfile", None)
    plain = resolve_target(conninfo.make_conninfo(**params))
    try:
        # PostgreSQL grants EXECUTE on pg_control_system() to PUBLIC: no superuser, no pg_monitor needed
        assert run_backup(plain, file_storage, include_globals=False).system_identifier == _system_identifier(
            twin.dsn
        )
        with psycopg.connect(twin.dsn, autocommit=True) as conn:
            conn.execute("REVOKE EXECUTE ON FUNCTION pg_control_system() FROM PUBLIC")
        url = str(file_storage.root)
        run = _json(
            capsys,
            ["backup", "run", "--dsn", plain.dsn, "--storage", url, "--no-globals", "--format", "json"],
        )
        assert run["system_identifier"] is None
        assert [b.manifest.system_identifier for b in list_backups(file_storage) if b.manifest] == [
            _system_identifier(twin.dsn),
            None,
        ]
    finally:
        with psycopg.connect(other_server.dsn(), autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(twin.database))
            )
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def test_backup_age_alert_ignores_a_newer_backup_another_server_recorded_under_the_same_key(
    db, twin, file_storage, tmp_path: Path
):
    # each host's cron names its own server the same way (e.g. localhost:5432/app) in one team history store
    history = str(tmp_path / "history.sqlite3")
    mine = run_backup(db.target, file_storage, include_globals=False)
    record_backup(db.target.key, file_storage.url, mine, history)
    theirs = run_backup(twin, file_storage, include_globals=False)
    record_backup(db.target.key, file_storage.url, theirs, history)
    with open_store(history) as store, session(db.target) as conn:
        samples = collect_samples(conn, load_server_facts(conn), db.target, store, {"backups"})
    assert samples.backups is not None
    assert samples.backups.last_backup == mine.finished_at


def test_a_backup_run_that_fails_on_one_server_does_not_count_for_another_recording_under_its_key(
    db, twin, file_storage, tmp_path: Path, capsys
):
    history = str(tmp_path / "history.sqlite3")
    mine = run_backup(db.target, file_storage, include_globals=False)
    record_backup(twin.key, file_storage.url, mine, history)  # this server's cron, under the same key
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / twin.database).write_text("")  # the database's folder is a file: the dump cannot be stored
    argv = ["backup", "run", "--dsn", twin.dsn, "--storage", f"file://{broken}", "--no-globals"]
    assert main([*argv, "--store", history]) == 2
    assert str(broken / twin.database) in capsys.readouterr().err
    with open_store(history) as store:
        failed = store.records(twin.key, BACKUP_KIND)[0][1]
    assert (failed["ok"], failed["system_identifier"]) == (False, _system_identifier(twin.dsn))

    def backup_jobs(conn: psycopg.Connection) -> JobRecords:
        with open_store(history) as store:
            samples = collect_samples(conn, load_server_facts(conn), twin, store, {"backups"})
        assert samples.backups is not None
        return samples.backups.backups

    with session(db.target) as conn:  # the other server's failure is not this one's
        assert backup_jobs(conn) == JobRecords(mine.finished_at, None, 0, mine.finished_at, False)
    with session(twin) as conn:  # the failing server's: failing since its first failure, none succeeded
        jobs = backup_jobs(conn)
    assert (jobs.last_success, jobs.failed_since_success, jobs.last_failed) == (None, 1, True)


def test_api_lists_and_restore_tests_only_the_backups_of_its_servers_database(
    db, twin, file_storage, tmp_path
):
    mine = _backup(db.target, file_storage)
    _backup(twin, file_storage)  # newer, another server's
    settings = ApiSettings(
        db.target,
        token="t",
        history_store=str(tmp_path / "history.sqlite3"),
        backup_storage=file_storage.url,
    )
    client = TestClient(create_app(settings), headers={"Authorization": "Bearer t"})
    listed = client.get("/api/v1/backups").json()
    assert [b["backup_id"] for b in listed["backups"]] == [mine]
    tested = client.post("/api/v1/backups/restore-test", json={"confirm": True}).json()
    assert tested["backup_id"] == mine and tested["passed"]


def _listed(when: datetime, system_identifier: str | None) -> BackupInfo:
    backup_id = new_backup_id(when)
    manifest = Manifest(
        backup_id, "app", "h:5432/app", "15.8", 150008, "pg_dump 15", when, when,
        f"app/{backup_id}/dump.pgdump", 1, "0" * 64, system_identifier=system_identifier,
    )  # fmt: skip
    return BackupInfo("app", backup_id, {"dump.pgdump": 1, "manifest.json": 1}, manifest)


def test_backups_of_an_earlier_pgdba_join_the_one_servers_series_and_stay_apart_among_several():
    now = datetime(2026, 11, 28, 12, tzinfo=UTC)
    legacy = [_listed(now - timedelta(days=10 - i), None) for i in range(2)]
    one_server = [_listed(now - timedelta(days=5 - i), "111") for i in range(2)]
    kept = [
        d.backup.backup_id
        for d in plan_retention(legacy + one_server, RetentionPolicy(keep_last=1), now)
        if d.keep
    ]
    assert kept == [one_server[-1].backup_id]  # one series, as before identifiers
    other_server = [_listed(now - timedelta(hours=1), "222")]
    decisions = plan_retention(legacy + one_server + other_server, RetentionPolicy(keep_last=1), now)
    kept = [d.backup.backup_id for d in decisions if d.keep]
    # with two servers, whose the old backups were is unknown: they are judged as a series of their own
    assert sorted(kept) == sorted([legacy[-1].backup_id, one_server[-1].backup_id, other_server[0].backup_id])


def test_prune_for_a_new_server_under_an_old_name_leaves_the_old_series_and_says_so(
    db, twin, file_storage, capsys
):
    # pg_upgrade (like initdb) gives the upgraded cluster a new identifier: the backups taken before it
    # are another server's, even before the new cluster has a backup of its own
    old = [_backup(db.target, file_storage) for _ in range(2)]
    url = str(file_storage.root)
    assert main(["backup", "prune", "--dsn", twin.dsn, "--storage", url, "--keep-last", "1"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert (
        f"2 backups of another server (system identifier {_system_identifier(db.dsn)}) under the same "
        f"database name {db.name!r} are not touched"
    ) in out
    assert [b.backup_id for b in list_backups(file_storage)] == old
