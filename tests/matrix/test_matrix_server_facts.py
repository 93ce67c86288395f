"""Server facts on every major: version, the build under test, settings, extensions, roles, reset times."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from pgdba.embedded import EmbeddedCluster
from pgdba.server import BEST_EFFORT_MAJORS, TESTED_MAJORS, load_server_facts, version_note
from pgdba.target import resolve_target
from tests.conftest import TestDatabase
from tests.matrix.stats_visibility import eventually

pytestmark = pytest.mark.catalog


def test_cluster_runs_the_build_pgdba_pg_bin_selects(pg_cluster: EmbeddedCluster, server_major: int) -> None:
    if os.environ.get("PGDBA_PG_BIN"):
        assert pg_cluster.bin_dir == Path(os.environ["PGDBA_PG_BIN"])
    assert pg_cluster.major == server_major
    assert pg_cluster.status().version == str(server_major)


def test_facts_report_the_server_version_and_identity(db: TestDatabase, server_major: int) -> None:
    with db.target.connect() as conn:
        facts = load_server_facts(conn)
    assert facts.major == server_major
    assert f"PostgreSQL {server_major}" in facts.version
    assert facts.database == db.name
    assert facts.user == "postgres"
    assert facts.is_superuser
    assert not facts.in_recovery
    assert facts.postmaster_start is not None


def test_every_matrix_version_is_a_tested_version_without_a_note(db: TestDatabase) -> None:
    with db.target.connect() as conn:
        facts = load_server_facts(conn)
    assert facts.is_tested_version
    assert facts.version_note is None


@pytest.mark.parametrize(
    "version_num, expected",
    [
        (130012, "best-effort"),
        (120020, "older than pgdba supports"),
        (190000, "newer than pgdba has been tested on"),
        (200001, "newer than pgdba has been tested on"),
    ],
)
def test_version_note_names_an_untested_major(version_num: int, expected: str) -> None:
    note = version_note(version_num)
    assert note is not None
    assert expected in note
    assert f"PostgreSQL {version_num // 10000} " in note
    assert "14 to 18" in note


def test_version_note_is_silent_on_every_tested_major() -> None:
    assert all(version_note(major * 10000 + 1) is None for major in TESTED_MAJORS)
    assert not set(TESTED_MAJORS) & set(BEST_EFFORT_MAJORS)


def test_settings_present_on_every_major_are_read(db: TestDatabase) -> None:
    with db.target.connect() as conn:
        facts = load_server_facts(conn)
    assert facts.setting("track_io_timing") == "on"
    assert facts.setting("pg_stat_statements.track") == "all"
    assert facts.setting("max_connections") == "120"
    assert facts.setting("block_size") == "8192"
    assert facts.setting("autovacuum_freeze_max_age") is not None


@pytest.mark.pg(">= 16")
def test_reserved_connections_is_read_where_it_exists(db: TestDatabase) -> None:
    with db.target.connect() as conn:
        facts = load_server_facts(conn)
    assert facts.setting("reserved_connections") == "0"


@pytest.mark.pg("< 16")
def test_reserved_connections_is_absent_before_16(db: TestDatabase) -> None:
    with db.target.connect() as conn:
        facts = load_server_facts(conn)
    assert facts.setting("reserved_connections") is None
    assert facts.setting("superuser_reserved_connections") == "3"


def test_extensions_installed_and_available_are_told_apart(db: TestDatabase) -> None:
    with db.target.connect() as conn:
        before = load_server_facts(conn)
    assert "pg_stat_statements" in before.installed_extensions
    assert before.pg_stat_statements_preloaded and before.pg_stat_statements_ready
    assert "pgstattuple" in before.available_extensions
    assert "pgstattuple" not in before.installed_extensions
    db.execute("CREATE EXTENSION pgstattuple")
    with db.target.connect() as conn:
        after = load_server_facts(conn)
    assert after.installed_extensions["pgstattuple"] == after.available_extensions["pgstattuple"]


def test_hypopg_detection_matches_the_build(db: TestDatabase, pg_cluster: EmbeddedCluster) -> None:
    with db.target.connect() as conn:
        facts = load_server_facts(conn)
    assert facts.hypopg_available == pg_cluster.hypopg_available()
    assert facts.hypopg_installed == pg_cluster.hypopg_available()
    assert ("hypopg" in facts.preload_libraries) == pg_cluster.hypopg_available()


def test_database_stats_reset_time_is_read_after_a_reset(db: TestDatabase) -> None:
    with db.connect() as conn:
        before = conn.execute("SELECT clock_timestamp()").fetchone()[0]  # type: ignore[index]
        conn.execute("SELECT pg_stat_reset()")
    with db.target.connect() as conn:
        # 14's statistics collector applies the reset asynchronously
        facts = eventually(lambda: load_server_facts(conn), lambda f: f.stats_reset is not None)
    assert facts.stats_reset is not None
    assert facts.stats_reset >= before


def test_statements_reset_time_is_read_after_a_reset(db: TestDatabase) -> None:
    with db.connect() as conn:
        before = conn.execute("SELECT clock_timestamp()").fetchone()[0]  # type: ignore[index]
        conn.execute("SELECT pg_stat_statements_reset()")
    with db.target.connect() as conn:
        facts = load_server_facts(conn)
    assert facts.statements_reset is not None
    assert facts.statements_reset >= before


@pytest.fixture
def monitor_role(db: TestDatabase) -> Iterator[str]:
    name = f"mon_{uuid.uuid4().hex[:8]}"
    db.execute(f"CREATE ROLE {name} LOGIN PASSWORD 'Matrix-Pw-1'")
    yield name
    db.execute(f"DROP OWNED BY {name}")
    db.execute(f"DROP ROLE {name}")


def _role_dsn(db: TestDatabase, role: str) -> str:
    return f"postgresql://{role}:Matrix-Pw-1@127.0.0.1:{db.cluster.port}/{db.name}"


def test_pg_monitor_membership_grants_reading_all_stats(db: TestDatabase, monitor_role: str) -> None:
    target = resolve_target(_role_dsn(db, monitor_role))
    with target.connect() as conn:
        plain = load_server_facts(conn)
    assert not plain.is_superuser
    assert not plain.can_read_all_stats
    # shared_preload_libraries is hidden from this role; the library is proven loaded by asking it
    assert not plain.preload_libraries_visible
    assert plain.pg_stat_statements_preloaded
    db.execute(f"GRANT pg_monitor TO {monitor_role}")
    with target.connect() as conn:
        granted = load_server_facts(conn)
    assert {"pg_monitor", "pg_read_all_stats"} <= set(granted.roles)
    assert granted.can_read_all_stats
    assert granted.preload_libraries_visible


def test_a_monitor_role_reads_statement_reset_time(db: TestDatabase, monitor_role: str) -> None:
    db.execute(f"GRANT pg_monitor TO {monitor_role}")
    with resolve_target(_role_dsn(db, monitor_role)).connect() as conn:
        facts = load_server_facts(conn)
    assert facts.pg_stat_statements_ready
    assert facts.statements_reset is not None
