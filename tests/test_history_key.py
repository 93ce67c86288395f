"""The history key of a DSN without dbname names the database libpq connects to (PGDATABASE, else the user's
name), so two databases never share one key and the same database has one key however its DSN is written;
history stored under the key of earlier versions (`host:port/`) is still read."""

from __future__ import annotations

import os
import pwd
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from pgdba.embedded import EmbeddedCluster
from pgdba.history.pg_store import PostgresHistoryStore
from pgdba.history.store import HistoryStore, open_store
from pgdba.target import Target, resolve_target

PASSWORD = "pw-of-the-key-test"


@pytest.fixture
def role_databases(pg_cluster: EmbeddedCluster) -> Iterator[tuple[str, str]]:
    """Two login roles, each owning a database of its own name (where libpq connects them by default)."""
    names = tuple(f"keyrole_{uuid.uuid4().hex[:8]}" for _ in range(2))
    with psycopg.connect(pg_cluster.dsn(), autocommit=True) as conn:
        for name in names:
            conn.execute(f"CREATE ROLE {name} LOGIN PASSWORD '{PASSWORD}'")
            conn.execute(f"CREATE DATABASE {name} OWNER {name}")
    yield names[0], names[1]
    with psycopg.connect(pg_cluster.dsn(), autocommit=True) as conn:
        for name in names:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            conn.execute(f"DROP ROLE IF EXISTS {name}")


def _without_dbname(cluster: EmbeddedCluster, user: str) -> Target:
    return resolve_target(f"host=127.0.0.1 port={cluster.port} user={user} password={PASSWORD}")


def _connected_database(target: Target) -> str:
    with target.connect() as conn:
        row = conn.execute("SELECT current_database()").fetchone()
    assert row is not None
    return str(row[0])


@pytest.fixture
def no_libpq_database_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PGDATABASE", raising=False)
    monkeypatch.delenv("PGUSER", raising=False)
    monkeypatch.delenv("PGSERVICE", raising=False)


@pytest.mark.usefixtures("no_libpq_database_env")
def test_two_users_databases_without_dbname_get_two_keys_each_the_explicit_one(
    pg_cluster: EmbeddedCluster, role_databases: tuple[str, str]
) -> None:
    alice, bob = (_without_dbname(pg_cluster, name) for name in role_databases)
    assert alice.key != bob.key
    for target, name in zip((alice, bob), role_databases, strict=True):
        assert _connected_database(target) == name  # libpq's default: the user's own database
        assert target.key == target.with_database(name).key == f"127.0.0.1:{pg_cluster.port}/{name}"


@pytest.mark.usefixtures("no_libpq_database_env")
def test_pgdatabase_names_the_keyed_database_of_a_dsn_without_dbname(
    pg_cluster: EmbeddedCluster, role_databases: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = role_databases
    target = _without_dbname(pg_cluster, first)
    monkeypatch.setenv("PGDATABASE", second)  # the role connects to the other database now
    assert _connected_database(target) == second
    assert target.key == target.with_database(second).key
    assert target.key != target.with_database(first).key


def test_a_dsn_with_no_user_and_no_dbname_is_keyed_by_the_login_name_libpq_uses(
    no_libpq_database_env: None,
) -> None:
    login = pwd.getpwuid(os.geteuid()).pw_name
    assert resolve_target("postgresql://db.example:5432").key == f"db.example:5432/{login}"


def _write_as_an_earlier_version(store: HistoryStore, legacy_key: str) -> None:
    """What earlier pgdba stored for a dbname-less DSN: everything under `host:port/`."""
    now = datetime.now(UTC)
    store.save_snapshot(legacy_key, "tables", [{"name": "public.t"}], taken_at=now - timedelta(days=2))
    store.add_record(legacy_key, "backup", {"ok": True}, recorded_at=now - timedelta(days=1))


def _assert_reads_earlier_history(store: HistoryStore, target: Target, legacy_key: str) -> None:
    now = datetime.now(UTC)
    assert [p for _, p in store.records(target.key, "backup")] == [{"ok": True}]
    assert [s.target for s in store.snapshots(target.key, "tables")] == [legacy_key]
    latest = store.latest_snapshot(target.key, "tables")
    assert latest is not None and latest.payload == [{"name": "public.t"}]
    baseline = store.baseline_snapshot(target.key, "tables", now - timedelta(days=7))
    assert baseline is not None and baseline.target == legacy_key
    # new history goes under the new key, and is read together with the old one, newest first
    store.add_record(target.key, "backup", {"ok": True, "new": True})
    assert [p for _, p in store.records(target.key, "backup")] == [{"ok": True, "new": True}, {"ok": True}]
    # a DSN naming the database explicitly never had the old key: it does not read the old history
    named = target.with_database(target.key.rsplit("/", 1)[1])
    assert named.key == target.key
    assert [p for _, p in store.records(named.key, "backup")] == [{"ok": True, "new": True}]


@pytest.mark.usefixtures("no_libpq_database_env")
def test_sqlite_history_of_an_earlier_version_under_host_port_slash_is_still_read(
    pg_cluster: EmbeddedCluster, role_databases: tuple[str, str], tmp_path: Path
) -> None:
    target = _without_dbname(pg_cluster, role_databases[0])
    legacy_key = f"127.0.0.1:{pg_cluster.port}/"
    with HistoryStore(tmp_path / "history.sqlite3") as store:
        _write_as_an_earlier_version(store, legacy_key)
        _assert_reads_earlier_history(store, target, legacy_key)


@pytest.mark.usefixtures("no_libpq_database_env")
def test_postgres_history_of_an_earlier_version_under_host_port_slash_is_still_read(
    pg_cluster: EmbeddedCluster, role_databases: tuple[str, str]
) -> None:
    target = _without_dbname(pg_cluster, role_databases[1])  # the store lives in that role's database
    legacy_key = f"127.0.0.1:{pg_cluster.port}/"
    with open_store(pg_cluster.dsn(role_databases[1])) as store:
        assert isinstance(store, PostgresHistoryStore)
        _write_as_an_earlier_version(store, legacy_key)
        _assert_reads_earlier_history(store, target, legacy_key)


@pytest.fixture
def service_file(
    pg_cluster: EmbeddedCluster,
    role_databases: tuple[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[str, str]:
    """A service file (PGSERVICEFILE) with one service per role database, on the test cluster."""
    for name in ("PGSERVICE", "PGDATABASE", "PGHOST", "PGPORT", "PGUSER", "PGSYSCONFDIR"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "services.conf"
    path.write_text(
        "# two applications on one server\n"
        + "".join(
            f"[app{n}]\nhost=127.0.0.1\nport={pg_cluster.port}\nuser={role}\ndbname={role}\n\n"
            for n, role in enumerate(role_databases, start=1)
        )
    )
    monkeypatch.setenv("PGSERVICEFILE", str(path))
    return role_databases


def test_a_connection_service_is_keyed_by_the_database_libpq_connects_it_to(
    pg_cluster: EmbeddedCluster, service_file: tuple[str, str]
) -> None:
    first, second = (resolve_target(f"service=app{n} password={PASSWORD}") for n in (1, 2))
    # libpq itself is the oracle: where the service connects is what the key names
    assert _connected_database(first) == service_file[0] and _connected_database(second) == service_file[1]
    assert first.key == f"127.0.0.1:{pg_cluster.port}/{service_file[0]}"
    assert second.key == f"127.0.0.1:{pg_cluster.port}/{service_file[1]}"
    # what earlier versions keyed these DSNs (the service file unread: one key for both) is read as well
    assert first.key.former == second.key.former == (f"localhost:5432/{pwd.getpwuid(os.geteuid()).pw_name}",)
    # a keyword of the DSN wins over the service's, as in libpq
    other = resolve_target(
        f"service=app1 dbname={service_file[1]} user={service_file[0]} password={PASSWORD}"
    )
    assert _connected_database(other) == service_file[1]
    assert other.key == f"127.0.0.1:{pg_cluster.port}/{service_file[1]}"


def test_a_service_pgdba_cannot_find_is_keyed_by_its_name(service_file: tuple[str, str]) -> None:
    target = resolve_target("service=elsewhere dbname=shop")
    assert target.key == "service=elsewhere/shop"
    assert resolve_target("service=elsewhere2 dbname=shop").key != target.key
