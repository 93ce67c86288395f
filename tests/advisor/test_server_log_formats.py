"""`advise indexes --queries FILE` from a server's logs in its three formats, as a real server writes them.

Before, a csvlog or jsonlog file (what managed services and containers ship) was read as SQL and refused
(`cannot parse`), and so was a stderr log whose log_line_prefix ends in `:` (Amazon RDS's: `…:[812]:LOG:`);
a stderr log's `%u@%d` was not read.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import conninfo

from pgdba.advisor.server_log import log_format
from pgdba.advisor.workload import WorkloadQuery, queries_from_file, roles_known_here
from pgdba.cli import main
from pgdba.embedded import EmbeddedCluster
from pgdba.errors import InputError
from tests.checkup.helpers import wait_until
from tests.clusters import own_cluster

MULTI_LINE = "SELECT id, total\n  FROM orders\n WHERE customer_id = %s"


@pytest.fixture(scope="module")
def logged() -> Iterator[tuple[EmbeddedCluster, dict[str, Path]]]:
    """A server logging every statement's duration to csvlog and jsonlog; the `shop` database's orders
    queried (a multi-line statement over the extended protocol, a simple one with a literal, three times
    each), and one statement of the `other` database."""
    settings = {
        "logging_collector": "on",
        "log_destination": "'stderr,csvlog,jsonlog'",
        "log_min_duration_statement": "0",
        # Amazon RDS's: `…:app@shop:[812]:LOG:  statement: …`, no blank before LOG
        "log_line_prefix": "'%t:%r:%u@%d:[%p]:'",
    }
    with own_cluster("serverlog", **settings) as cluster:
        with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
            conn.execute("CREATE DATABASE shop")
            conn.execute("CREATE DATABASE other")
        with psycopg.connect(cluster.dsn("shop"), autocommit=True) as conn:
            conn.execute("CREATE TABLE orders (id int, customer_id int, total numeric)")
            conn.execute("INSERT INTO orders SELECT g, g % 500, g FROM generate_series(1, 20000) g")
            for customer in range(3):
                conn.execute(MULTI_LINE, (customer,))  # type: ignore[arg-type]
                conn.execute(f"SELECT count(*) FROM orders WHERE total > {customer * 100}")  # type: ignore[arg-type]
            conn.execute("CREATE ROLE shopper LOGIN PASSWORD 'pw'")
            conn.execute("ALTER ROLE shopper IN DATABASE shop SET search_path = sales, public")
            conn.execute("CREATE SCHEMA sales AUTHORIZATION shopper")
            conn.execute("CREATE TABLE sales.carts (id int, owner int, items int)")
            conn.execute("INSERT INTO sales.carts SELECT g, g % 4000, g % 7 FROM generate_series(1, 40000) g")
            conn.execute("GRANT SELECT ON sales.carts TO shopper")
            conn.execute("ANALYZE")
        shopper = conninfo.make_conninfo(cluster.dsn("shop"), user="shopper", password="pw", passfile="")
        with psycopg.connect(shopper, autocommit=True) as conn:
            for owner in range(3):
                conn.execute("SELECT items FROM carts WHERE owner = %s", (owner,))
        with psycopg.connect(cluster.dsn("other"), autocommit=True) as conn:
            conn.execute("CREATE TABLE notes (id int)")
            conn.execute("SELECT * FROM notes WHERE id = 1 /* last */")
        logs = cluster.data_dir / "log"

        def written() -> bool:
            files = {p.suffix: p for p in logs.glob("postgresql-*.*")}
            return all(
                suffix in files and "/* last */" in files[suffix].read_text(errors="replace")
                for suffix in (".log", ".csv", ".json")
            )

        wait_until(written, timeout=30, what="the logging collector writing the last statement")
        yield cluster, {p.suffix: p for p in logs.glob("postgresql-*.*")}


@pytest.mark.parametrize("suffix", [".log", ".csv", ".json"])
def test_each_log_format_gives_this_databases_statements_with_their_durations_and_roles(
    logged: tuple[EmbeddedCluster, dict[str, Path]], suffix: str
) -> None:
    _, files = logged
    assert (
        log_format(files[suffix].read_text())
        == {".log": "stderr", ".csv": "csvlog", ".json": "jsonlog"}[suffix]
    )

    queries = queries_from_file(files[suffix], "shop")

    by_text = {q.sql: q for q in queries}
    [multi] = [q for q in queries if "customer_id" in q.sql]
    assert multi.sql == "SELECT id, total\n  FROM orders\n WHERE customer_id = $1"
    assert multi.calls == 3 and multi.total_ms > 0
    [literal] = [q for q in queries if "count(*)" in q.sql]
    assert literal.calls == 3  # the three constants merged by fingerprint
    assert not [text for text in by_text if "notes" in text]  # the other database's
    [carts] = [q for q in queries if "FROM carts" in q.sql]
    assert (carts.role, multi.role) == ("shopper", "postgres")  # who ran each, as the log says


def test_a_log_without_the_databases_statements_names_those_it_has(
    logged: tuple[EmbeddedCluster, dict[str, Path]],
) -> None:
    _, files = logged
    with pytest.raises(
        InputError,
        match=r"no statement of database 'elsewhere' in this jsonlog file; its \d+ are of other, postgres, shop",
    ):
        queries_from_file(files[".json"], "elsewhere")


def test_advise_reads_a_jsonlog_for_the_database_it_is_pointed_at(
    logged: tuple[EmbeddedCluster, dict[str, Path]], capsys: pytest.CaptureFixture[str]
) -> None:
    cluster, files = logged
    assert main(["advise", "indexes", "--dsn", cluster.dsn("shop"), "--queries", str(files[".json"])]) == 0
    out = capsys.readouterr().out
    assert "orders" in out and "notes" not in out
    # shopper's `carts` is sales.carts, as shopper's sessions search `sales, public`
    assert "sales.carts(owner)" in out, out


def test_a_logged_role_this_server_lacks_is_read_as_written(
    logged: tuple[EmbeddedCluster, dict[str, Path]],
) -> None:
    cluster, _ = logged
    queries = [
        WorkloadQuery("SELECT 1", role="not_on_this_server"),
        WorkloadQuery("SELECT 2", role="shopper"),
    ]
    with psycopg.connect(cluster.dsn("shop"), autocommit=True) as conn:
        assert [q.role for q in roles_known_here(conn, queries)] == [None, "shopper"]
