"""`pgdba queries slow | n-plus-one | cache` without a usable pg_stat_statements: the one line and exit 2 of
`queries analyze`, never "none" (which would say the statements were looked at and none was slow)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from pgdba.cli import main
from pgdba.embedded import EmbeddedCluster
from tests.clusters import own_cluster
from tests.conftest import TestDatabase

COMMANDS = ("slow", "n-plus-one", "cache")


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def unloaded_cluster() -> Iterator[EmbeddedCluster]:
    """A cluster that does not preload pg_stat_statements: the extension can be created, its view errors."""
    with own_cluster("queries-unloaded") as cluster:
        with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
            conn.execute("ALTER SYSTEM SET shared_preload_libraries = 'auto_explain'")
        cluster.restart()
        yield cluster


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("fmt", ["table", "json"])
def test_a_statement_command_without_the_extension_is_the_one_line_error_of_queries_analyze(
    command: str, fmt: str, db: TestDatabase, capsys: pytest.CaptureFixture[str]
) -> None:
    db.execute("DROP EXTENSION pg_stat_statements")
    _, _, analyze_error = _run(capsys, "queries", "analyze", "--dsn", db.dsn)
    code, out, err = _run(capsys, "queries", command, "--dsn", db.dsn, "--format", fmt)
    assert code == 2
    assert out == ""
    assert err == analyze_error
    assert err.startswith("pgdba: error: pg_stat_statements is not available: run `pgdba setup")
    assert err.count("\n") == 1


@pytest.mark.parametrize("command", COMMANDS)
def test_a_statement_command_with_the_extension_created_but_not_preloaded_exits_2(
    command: str, unloaded_cluster: EmbeddedCluster, capsys: pytest.CaptureFixture[str]
) -> None:
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(unloaded_cluster.dsn(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    dsn = unloaded_cluster.dsn(name)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION pg_stat_statements")  # created, but its view cannot be read
    code, out, err = _run(capsys, "queries", command, "--dsn", dsn)
    assert (code, out) == (2, "")
    assert err.startswith("pgdba: error: pg_stat_statements is not available") and err.count("\n") == 1


def test_the_full_check_still_lists_the_statement_checks_as_skipped_and_exits_0(
    db: TestDatabase, capsys: pytest.CaptureFixture[str]
) -> None:
    db.execute("DROP EXTENSION pg_stat_statements")
    code, out, _ = _run(capsys, "check", "--dsn", db.dsn, "--format", "json")
    skipped = {s["check"]: s["reason"] for s in json.loads(out)["skipped"]}
    assert code == 0
    assert {"query.slow", "query.n_plus_one", "query.low_cache_hit"} <= skipped.keys()
    assert skipped["query.slow"].startswith("pg_stat_statements is not available")
