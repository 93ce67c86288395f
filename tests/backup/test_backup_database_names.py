"""A database name that is not one plain path segment ('sales/eu', '..', '50%off', a control character)
is stored percent-encoded, so its backups are listed, verified, restore-tested and pruned like any other;
the backups an earlier pgdba stored under the name as it was still count."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import boto3
import pytest

from pgdba.backup import find_backup, list_backups, run_backup, verify_backup
from pgdba.backup.manifest import database_of_segment, database_segment
from pgdba.backup.storage import FileStorage, S3Storage
from pgdba.cli import main


def test_a_database_name_round_trips_through_its_path_segment():
    for name in [
        "sales/eu",
        "..",
        ".",
        "...",
        "50%off",
        "100%25",
        "a%2Fb",
        "line\nbreak",
        "tab\tdel\x7f",
        "ü/ß",
    ]:
        segment = database_segment(name)
        assert "/" not in segment and segment not in (".", "..")
        assert not any(ord(c) < 0x20 or ord(c) == 0x7F for c in segment)
        assert database_of_segment(segment) == name
    assert database_segment("sales/eu") == "sales%2Feu"
    assert database_segment("..") == "%2E%2E"
    assert database_segment("50%off") == "50%25off"


def test_a_plain_name_is_its_own_segment_as_every_earlier_backup_stored_it():
    for name in ["app", "my-db", "App_2", "données", "a.b", "..."]:
        assert database_segment(name) == name
        assert database_of_segment(name) == name
    # stored as it was by an earlier pgdba: not this encoding of anything, so it names itself
    assert database_of_segment("50%off") == "50%off"
    assert database_of_segment("a%2fb") == "a%2fb"  # we write upper-case hex only


def _unique(name: str) -> str:
    return f"{name}_{uuid.uuid4().hex[:6]}"


def test_a_backup_of_a_database_named_with_a_slash_is_listed_verified_restore_tested_and_pruned(
    named_database, backup_dir: Path, tmp_path: Path, capsys, monkeypatch
):
    monkeypatch.setenv("PGDBA_HISTORY", str(tmp_path / "history.sqlite3"))
    name = _unique("sales/eu")
    target = named_database(name)
    url = f"file://{backup_dir}"
    run = ["backup", "run", "--dsn", target.dsn, "--storage", url, "--no-globals", "--format", "json"]
    assert main(run) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["database"] == name
    segment = name.replace("/", "%2F")
    assert sorted(p.name for p in (backup_dir / segment / first["backup_id"]).iterdir()) == [
        "dump.pgdump",
        "manifest.json",
    ]

    assert main(["backup", "list", "--storage", url, "--database", name, "--format", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)["backups"]
    assert [(b["database"], b["backup_id"], b["status"]) for b in listed] == [
        (name, first["backup_id"], "complete")
    ]
    assert main(["backup", "verify", "--all", "--storage", url, "--database", name]) == 0
    assert f"{name}/{first['backup_id']}: ok" in capsys.readouterr().out
    # DATABASE/ID with a '/' in the database: the id is what follows the last '/'
    assert main(["backup", "verify", f"{name}/{first['backup_id']}", "--storage", url]) == 0
    capsys.readouterr()

    test = ["restore-test", "--dsn", target.dsn, "--storage", url, "--database", name, "--format", "json"]
    assert main(test) == 0
    tested = json.loads(capsys.readouterr().out)
    assert tested["passed"] is True and tested["database"] == name
    assert json.loads((backup_dir / segment / first["backup_id"] / "restore-test.json").read_text())["passed"]

    assert main(run) == 0
    second = json.loads(capsys.readouterr().out)
    prune = ["backup", "prune", "--storage", url, "--keep-last", "1", "--format", "json"]
    assert main(prune) == 0
    decisions = {d["backup_id"]: d["action"] for d in json.loads(capsys.readouterr().out)["backups"]}
    # the first passed its restore test, so it stays; keep-last 1 keeps the second
    assert decisions == {first["backup_id"]: "keep", second["backup_id"]: "keep"}
    assert main(run) == 0
    third = json.loads(capsys.readouterr().out)
    assert main(prune) == 0
    decisions = {d["backup_id"]: d["action"] for d in json.loads(capsys.readouterr().out)["backups"]}
    assert decisions == {
        first["backup_id"]: "keep",
        second["backup_id"]: "delete",
        third["backup_id"]: "keep",
    }
    assert sorted(p.name for p in (backup_dir / segment).iterdir()) == [
        first["backup_id"],
        third["backup_id"],
    ]


@pytest.mark.parametrize("name", ["..", "."])
def test_a_database_named_like_a_relative_folder_is_backed_up_and_listed(
    named_database, file_storage: FileStorage, backup_dir: Path, name: str
):
    target = named_database(name)
    manifest = run_backup(target, file_storage, include_globals=False)
    assert manifest.database == name
    assert (backup_dir / name.replace(".", "%2E") / manifest.backup_id / "manifest.json").is_file()
    assert not (backup_dir.parent / manifest.backup_id).exists()
    (info,) = list_backups(file_storage, name)
    assert (info.database, info.backup_id, info.status) == (name, manifest.backup_id, "complete")
    assert verify_backup(file_storage, find_backup(file_storage, None, name)).ok


def test_a_database_named_with_a_slash_and_a_percent_is_stored_encoded_in_s3(
    named_database, s3_storage: S3Storage, moto_endpoint: str, bucket: str
):
    name = _unique("eu/50%")
    target = named_database(name)
    manifest = run_backup(target, s3_storage, include_globals=False)
    client = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    keys = {o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]}
    segment = name.replace("%", "%25").replace("/", "%2F")
    prefix = f"pg/prod/{segment}/{manifest.backup_id}"
    assert keys == {f"{prefix}/dump.pgdump", f"{prefix}/manifest.json"}
    (info,) = list_backups(s3_storage)
    assert (info.database, info.status) == (name, "complete")
    assert [b.backup_id for b in list_backups(s3_storage, name)] == [manifest.backup_id]
    assert verify_backup(s3_storage, find_backup(s3_storage, None, name)).ok


def test_backups_an_earlier_pgdba_stored_under_the_name_as_it_was_still_list_verify_and_prune(
    named_database, file_storage: FileStorage, backup_dir: Path, capsys
):
    name = _unique("50%off")
    target = named_database(name)
    old = run_backup(target, file_storage, include_globals=False)
    # where an earlier pgdba put it, and what its manifest said: the name as it was
    (backup_dir / database_segment(name)).rename(backup_dir / name)
    manifest_file = backup_dir / name / old.backup_id / "manifest.json"
    recorded = json.loads(manifest_file.read_text())
    recorded["dump_key"] = f"{name}/{old.backup_id}/dump.pgdump"
    manifest_file.write_text(json.dumps(recorded))
    new = run_backup(target, file_storage, include_globals=False)
    assert (backup_dir / name / old.backup_id).is_dir() and (backup_dir / database_segment(name)).is_dir()

    for database in (None, name):
        listed = list_backups(file_storage, database)
        assert [(b.database, b.backup_id, b.status) for b in listed] == [
            (name, old.backup_id, "complete"),
            (name, new.backup_id, "complete"),
        ]
    assert verify_backup(file_storage, find_backup(file_storage, old.backup_id, name)).ok

    url = f"file://{backup_dir}"
    assert main(["backup", "prune", "--storage", url, "--keep-last", "1", "--format", "json"]) == 0
    decisions = {d["backup_id"]: d["action"] for d in json.loads(capsys.readouterr().out)["backups"]}
    assert decisions == {old.backup_id: "delete", new.backup_id: "keep"}
    assert not (backup_dir / name / old.backup_id).exists()
    assert [b.backup_id for b in list_backups(file_storage, name)] == [new.backup_id]
