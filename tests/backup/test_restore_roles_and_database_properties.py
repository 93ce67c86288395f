"""What pg_dump leaves out without --create: the database's owner, settings, privileges and comment are
recorded in the manifest and given back by a restore; the roles a backup needs are looked up before
anything is created, and the restore test says when the server lacks them."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator

import psycopg
import pytest
from psycopg import sql

from pgdba.backup import find_backup, restore_backup, restore_test, run_backup
from pgdba.backup.database_properties import (
    DatabaseProperties,
    read_database_properties,
    roles_needed,
    setting_value,
    split_guc_list,
    toc_owners,
)
from pgdba.backup.restore import MissingRoles
from pgdba.cli import main
from pgdba.embedded import EmbeddedCluster
from tests.backup.older_manifests import as_written_before
from tests.conftest import TestDatabase


@pytest.fixture
def new_role(pg_cluster: EmbeddedCluster) -> Iterator[Callable[[str], str]]:
    """Creates roles with a unique suffix; drops them (and what they own or were granted) afterwards."""
    made: list[str] = []

    def make(stem: str) -> str:
        name = f"{stem}_{uuid.uuid4().hex[:6]}"
        with psycopg.connect(pg_cluster.dsn(), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE ROLE {}").format(sql.Identifier(name)))
        made.append(name)
        return name

    yield make
    with psycopg.connect(pg_cluster.dsn(), autocommit=True) as conn:
        databases = [str(r[0]) for r in conn.execute("SELECT datname FROM pg_database WHERE datallowconn")]
    for database in databases:
        with psycopg.connect(pg_cluster.dsn(database), autocommit=True) as conn:
            for name in made:
                if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone():
                    conn.execute(sql.SQL("REASSIGN OWNED BY {} TO CURRENT_USER").format(sql.Identifier(name)))
                    conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
    with psycopg.connect(pg_cluster.dsn(), autocommit=True) as conn:
        for name in made:
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


@pytest.fixture
def restored_names(pg_cluster: EmbeddedCluster) -> Iterator[Callable[[str], str]]:
    """Names of databases a test restores into, dropped afterwards."""
    names: list[str] = []

    def name(stem: str) -> str:
        names.append(f"{stem}_{uuid.uuid4().hex[:6]}")
        return names[-1]

    yield name
    with psycopg.connect(pg_cluster.dsn(), autocommit=True) as conn:
        for each in names:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(each)))


def _databases(db: TestDatabase) -> set[str]:
    with psycopg.connect(db.cluster.dsn()) as conn:
        return {str(r[0]) for r in conn.execute("SELECT datname FROM pg_database").fetchall()}


def _properties(db: TestDatabase, name: str) -> DatabaseProperties:
    with psycopg.connect(db.cluster.dsn()) as conn:
        props = read_database_properties(conn, name, with_object_roles=False)
    assert props is not None
    return props


@pytest.fixture
def sales(db: TestDatabase, new_role: Callable[[str], str]) -> tuple[TestDatabase, str]:
    """A database whose table `orders` belongs to a role of its own."""
    owner = new_role("sales_owner")
    db.execute(
        sql.SQL(
            "CREATE TABLE orders AS SELECT g AS id FROM generate_series(1, 50) AS g; ALTER TABLE orders OWNER TO {}"
        )
        .format(sql.Identifier(owner))
        .as_string()
    )
    return db, owner


def _drop_role_and_its_table(db: TestDatabase, role: str) -> None:
    db.execute("DROP TABLE orders")
    db.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)).as_string())


@pytest.mark.catalog
def test_a_missing_owner_role_is_named_before_anything_is_created(
    sales, file_storage, restored_names, capsys
):
    db, owner = sales
    manifest = run_backup(db.target, file_storage)
    assert manifest.globals_key is not None
    assert owner in manifest.database_properties["object_owners"]
    _drop_role_and_its_table(db, owner)
    info = find_backup(file_storage, manifest.backup_id, None)
    into = restored_names("sales_dr")
    before = _databases(db)

    for apply in (False, True):  # the plan refuses too: the manifest names the role
        with pytest.raises(MissingRoles) as refused:
            restore_backup(file_storage, info, db.target, into, apply=apply)
        message = str(refused.value)
        assert f"{owner} (owns objects)" in message and "globals.sql" in message
        assert "nothing was changed" in message and "--no-owner" in message
        assert _databases(db) == before

    argv = ["backup", "restore", manifest.backup_id, "--dsn", db.dsn, "--storage", str(file_storage.root)]
    assert main([*argv, "--into", into, "--apply"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and owner in err and f"{manifest.backup_id}/globals.sql" in err
    assert _databases(db) == before

    # without owners the restore needs no role, and goes through
    done = restore_backup(file_storage, info, db.target, into, apply=True, no_owner=True)
    assert done.ok, done.to_dict()
    with psycopg.connect(db.cluster.dsn(into)) as conn:
        assert conn.execute("SELECT count(*) FROM orders").fetchone() == (50,)


@pytest.mark.catalog
def test_a_manifest_of_an_earlier_pgdba_still_finds_the_missing_owner_in_the_archive(
    sales, file_storage, backup_dir, restored_names
):
    db, owner = sales
    manifest = run_backup(db.target, file_storage, include_globals=False)
    as_written_before(backup_dir, manifest, ("database_properties",))
    _drop_role_and_its_table(db, owner)
    info = find_backup(file_storage, manifest.backup_id, None)
    into = restored_names("sales_dr")
    before = _databases(db)
    with pytest.raises(MissingRoles, match=f"{owner} \\(owns objects\\).*has no globals.sql"):
        restore_backup(file_storage, info, db.target, into, apply=True)
    assert _databases(db) == before


@pytest.mark.catalog
def test_the_restore_test_reports_a_role_the_server_lacks(sales, file_storage):
    db, owner = sales
    with_globals = run_backup(db.target, file_storage)
    _drop_role_and_its_table(db, owner)

    result = restore_test(file_storage, find_backup(file_storage, with_globals.backup_id, None), db.target)
    checks = {c.name: c for c in result.checks}
    assert checks["roles"].status == "warn" and owner in checks["roles"].detail
    assert "refuses here" in checks["roles"].detail and "globals.sql" in checks["roles"].detail
    assert checks["pg_restore"].status == "pass"  # the data itself restores
    assert checks["database.properties"].status == "warn"


@pytest.mark.catalog
def test_the_restore_test_fails_a_backup_without_globals_when_a_role_is_missing(sales, file_storage):
    db, owner = sales
    without_globals = run_backup(db.target, file_storage, include_globals=False)
    _drop_role_and_its_table(db, owner)
    result = restore_test(file_storage, find_backup(file_storage, without_globals.backup_id, None), db.target)
    roles = next(c for c in result.checks if c.name == "roles")
    assert not result.passed
    assert roles.status == "fail" and owner in roles.detail and "has no globals.sql" in roles.detail


@pytest.fixture
def app_with_properties(db: TestDatabase, new_role: Callable[[str], str]) -> tuple[TestDatabase, str, str]:
    owner, reader = new_role("app_owner"), new_role("reader")
    name, o, r = (sql.Identifier(n) for n in (db.name, owner, reader))
    statements = [
        sql.SQL("ALTER DATABASE {} OWNER TO {}").format(name, o),
        sql.SQL("ALTER DATABASE {} SET search_path = appschema, '$user', public").format(name),
        sql.SQL("ALTER DATABASE {} SET statement_timeout = '5min'").format(name),
        sql.SQL("ALTER ROLE {} IN DATABASE {} SET work_mem = '64MB'").format(r, name),
        sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(name),
        sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(name, r),
        sql.SQL("GRANT TEMPORARY ON DATABASE {} TO {} WITH GRANT OPTION").format(name, r),
        sql.SQL("COMMENT ON DATABASE {} IS {}").format(name, sql.Literal("the app's 'main' database")),
        sql.SQL("ALTER DATABASE {} CONNECTION LIMIT 40").format(name),
        sql.SQL("CREATE SCHEMA appschema AUTHORIZATION {}").format(o),
        sql.SQL("CREATE TABLE appschema.items (id int)"),
        sql.SQL("ALTER TABLE appschema.items OWNER TO {}").format(o),
        sql.SQL("GRANT SELECT ON appschema.items TO {}").format(r),
    ]
    with db.connect() as conn:
        for statement in statements:
            conn.execute(statement)
    return db, owner, reader


def _comparable(props: DatabaseProperties) -> tuple[object, ...]:
    return (
        props.owner,
        props.comment,
        props.connection_limit,
        sorted((g.grantor, g.grantee or "", g.privilege, g.grantable) for g in props.acl or []),
        sorted((s.role or "", s.name, s.value) for s in props.settings),
    )


@pytest.mark.catalog
def test_owner_settings_privileges_and_comment_survive_a_restore(
    app_with_properties, file_storage, restored_names
):
    db, owner, reader = app_with_properties
    source = _properties(db, db.name)
    manifest = run_backup(db.target, file_storage, include_globals=False)
    recorded = manifest.database_properties
    assert recorded["owner"] == owner and recorded["comment"] == "the app's 'main' database"
    assert {(s["role"], s["name"]) for s in recorded["settings"]} == {
        (None, "search_path"),
        (None, "statement_timeout"),
        (reader, "work_mem"),
    }
    assert reader in recorded["privilege_roles"] and owner in recorded["object_owners"]
    info = find_backup(file_storage, manifest.backup_id, None)

    into = restored_names("app_restored")
    result = restore_backup(file_storage, info, db.target, into, apply=True)
    assert result.ok, result.to_dict()
    assert _comparable(_properties(db, into)) == _comparable(source)
    with psycopg.connect(db.cluster.dsn(into)) as conn:
        assert conn.execute("SHOW search_path").fetchone() == ('appschema, "$user", public',)

    # replacing an existing database: the properties follow the restored copy into its name
    db.execute(sql.SQL("COMMENT ON DATABASE {} IS 'changed'").format(sql.Identifier(into)).as_string())
    forced = restore_backup(file_storage, info, db.target, into, apply=True, force=True)
    assert forced.ok, forced.to_dict()
    assert _comparable(_properties(db, into)) == _comparable(source)

    tested = restore_test(file_storage, info, db.target)
    assert tested.passed, tested.to_dict()
    checks = {c.name: c for c in tested.checks}
    assert checks["roles"].status == "pass" and checks["database.properties"].status == "pass"
    assert f"owner {owner}, 3 setting(s)" in checks["database.properties"].detail


@pytest.mark.catalog
def test_no_owner_gives_the_database_to_the_restoring_role_with_the_other_grants(
    app_with_properties, file_storage, restored_names
):
    db, owner, reader = app_with_properties
    manifest = run_backup(db.target, file_storage, include_globals=False)
    info = find_backup(file_storage, manifest.backup_id, None)
    into = restored_names("app_no_owner")
    result = restore_backup(file_storage, info, db.target, into, apply=True, no_owner=True)
    assert result.ok, result.to_dict()
    got = _properties(db, into)
    assert got.owner != owner
    assert {(g.grantee, g.privilege) for g in got.acl or [] if g.grantee == reader} == {
        (reader, "CONNECT"),
        (reader, "TEMPORARY"),
    }
    assert owner not in {g.grantee for g in got.acl or []} | {g.grantor for g in got.acl or []}


@pytest.mark.catalog
def test_a_manifest_without_database_properties_still_restores_and_restore_tests(
    app_with_properties, file_storage, backup_dir, restored_names
):
    db, _owner, _reader = app_with_properties
    manifest = run_backup(db.target, file_storage, include_globals=False)
    as_written_before(backup_dir, manifest, ("database_properties",))
    info = find_backup(file_storage, manifest.backup_id, None)
    assert info.manifest is not None and info.manifest.database_properties is None
    into = restored_names("app_old")
    result = restore_backup(file_storage, info, db.target, into, apply=True)
    assert result.ok, result.to_dict()
    assert any("earlier pgdba" in note for note in result.notes)
    with psycopg.connect(db.cluster.dsn(into)) as conn:
        assert conn.execute("SELECT count(*) FROM appschema.items").fetchone() == (0,)
    tested = restore_test(file_storage, info, db.target)
    assert tested.passed, tested.to_dict()
    assert next(c for c in tested.checks if c.name == "database.properties").status == "warn"


def test_list_settings_are_split_and_quoted_as_pg_dump_does():
    assert split_guc_list('appschema, "$user", public') == ["appschema", "$user", "public"]
    assert split_guc_list('"a ""b"" c",d') == ['a "b" c', "d"]
    assert split_guc_list("  ") == []
    assert split_guc_list('"open') is None
    assert setting_value("search_path", '"$user", public').as_string() == "'$user', 'public'"
    assert setting_value("work_mem", "64MB").as_string() == "'64MB'"
    assert setting_value("search_path", "").as_string() == "''"


def test_toc_owners_reads_the_last_field_and_role_names_with_spaces():
    listing = "\n".join(
        [
            ";",
            "; Archive created at 2026-11-29",
            "216; 1259 16389 TABLE public orders sales_owner",
            "220; 1259 16432 TABLE public t3 sp ace",
            "2; 3079 16397 EXTENSION - pg_stat_statements ",
            "2056; 826 16396 DEFAULT ACL - DEFAULT PRIVILEGES FOR TABLES granter",
        ]
    )
    owners, default_acl = toc_owners(listing, {"sp ace", "postgres"})
    assert owners == {"sales_owner", "sp ace"}
    assert default_acl == {"granter"}


def test_roles_needed_without_owner_keeps_the_roles_privileges_name():
    props = DatabaseProperties(owner="o", object_owners=["o", "x"], privilege_roles=["reader"])
    assert roles_needed(props, {"y"}) == {
        "o": "owns objects",
        "x": "owns objects",
        "y": "owns objects",
        "reader": "named in privileges",
    }
    assert roles_needed(props, {"y"}, no_owner=True) == {"reader": "named in privileges"}


@pytest.mark.catalog
def test_a_locale_the_server_lacks_is_replaced_by_its_default_with_a_note(
    db, file_storage, backup_dir, restored_names
):
    db.execute("CREATE TABLE t AS SELECT 1 AS x")
    manifest = run_backup(db.target, file_storage, include_globals=False)
    path = backup_dir / manifest.database / manifest.backup_id / "manifest.json"
    doc = json.loads(path.read_text())
    doc["database_properties"].update(locale_provider="c", collate="xx_YY.UTF-8", ctype="xx_YY.UTF-8")
    path.write_text(json.dumps(doc))
    info = find_backup(file_storage, manifest.backup_id, None)
    into = restored_names("other_locale")
    result = restore_backup(file_storage, info, db.target, into, apply=True)
    assert result.ok, result.to_dict()
    assert any("default encoding and locale" in note and "xx_YY.UTF-8" in note for note in result.notes)
    tested = restore_test(file_storage, info, db.target)
    properties = next(c for c in tested.checks if c.name == "database.properties")
    assert tested.passed and properties.status == "warn" and "xx_YY.UTF-8" in properties.detail
