"""`advise indexes --queries FILE` from a server's logs in its three formats, as a real server writes them.

Before, a csvlog or jsonlog file (what managed services and containers ship) was read as SQL and refused
(`cannot parse`), and so was a stderr log whose log_line_prefix ends in `:` (Amazon RDS's: `…:[812]:LOG:`);
a stderr log's `%u@%d` was not read.
"""

from __future__ import annotations

import json
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
PENDING = "SELECT id, payload FROM tasks WHERE status = %s"
# psycopg sends a list as an array: `= ANY($1)` (no column comparison pg_qualstats records a constant for)
ANY_PENDING = "SELECT id FROM tasks WHERE status = ANY(%s)"
# a value with a quote, a comma and a line break (the server quotes it as a literal), and a NULL
AWKWARD = "SELECT id FROM tasks WHERE payload = %s AND id > %s"
AWKWARD_VALUE = "it's, a\nnote"
# `LIKE $1`: a search (a trigram index's) or a prefix (a btree's), as the pattern sent says
CONTAINS = "SELECT id FROM lessons WHERE title LIKE %s"
PREFIX = "SELECT id, title FROM lessons WHERE title LIKE %s ORDER BY title"


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
            conn.execute("CREATE EXTENSION hypopg")
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
            # 0.5 % pending: an index serves `status = 'pending'`, a plan for any status (half the rows,
            # by the generic estimate) or for the commonest one ('done') needs none
            conn.execute(
                "CREATE TABLE tasks AS SELECT g AS id, CASE WHEN g % 200 = 0 THEN 'pending' ELSE 'done' END "
                "AS status, repeat('x', 60) AS payload FROM generate_series(1, 200000) g"
            )
            conn.execute(
                "CREATE TABLE lessons AS SELECT g AS id, 'lesson ' || g AS title FROM generate_series(1, 50000) g"
            )
            conn.execute("ANALYZE")
            for _ in range(6):
                conn.execute(PENDING, ("pending",))
                conn.execute(ANY_PENDING, (["pending"],))
            conn.execute(AWKWARD, (AWKWARD_VALUE, None))
            conn.execute(CONTAINS, ("%algebra%",))
            conn.execute(PREFIX, ("lesson 42%",))
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
        log_format(files[suffix].read_text().splitlines())
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


@pytest.mark.parametrize("suffix", [".log", ".csv", ".json"])
def test_each_log_format_gives_the_values_a_statement_was_run_with(
    logged: tuple[EmbeddedCluster, dict[str, Path]], suffix: str
) -> None:
    _, files = logged
    by_text = {q.sql: q for q in queries_from_file(files[suffix], "shop")}

    assert by_text[PENDING.replace("%s", "$1")].sent == {1: {"pending": 6}}
    # the quoted value whole, the NULL left out
    assert by_text["SELECT id FROM tasks WHERE payload = $1 AND id > $2"].sent == {1: {AWKWARD_VALUE: 1}}
    assert by_text[MULTI_LINE.replace("%s", "$1")].sent == {1: {"0": 1, "1": 1, "2": 1}}
    [literal] = [q for q in by_text.values() if "count(*)" in q.sql]
    assert literal.sent == {}  # the simple protocol: its values are in its text


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


def test_advise_costs_and_measures_a_logged_statement_with_the_values_it_was_run_with(
    logged: tuple[EmbeddedCluster, dict[str, Path]], capsys: pytest.CaptureFixture[str]
) -> None:
    """Before, `status = $1` was costed for any status (an index removing a tenth of its cost) and measured
    with the commonest status, 'done'; `status = ANY($1)` with an array of 'done', and no index helped it;
    `payload = $1` was costed with a sampled payload every row holds, and got an index on id. The log says what the application asked for: 'pending', which an index on
    status serves, and a payload no row holds. (Last in this file: its scratch database and its own
    statements reach the logs the tests above read.)"""
    cluster, files = logged
    argv = ["advise", "indexes", "--dsn", cluster.dsn("shop"), "--queries", str(files[".log"])]
    assert main([*argv, "--verify", "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)

    by_query = {q["query"]: (r, q) for r in report["indexes"] for q in r["queries"]}
    status_index, pending = by_query[PENDING.replace("%s", "$1")]
    assert status_index["columns"][0] == "status", status_index
    assert pending["costing"] == "observed"
    assert pending["cost_after"] < pending["cost_before"] / 10, pending
    # every query bound to constants was bound to the log's: the note says so, not "sampled from pg_stats"
    assert [n for n in report["notes"] if "queries costed with constants the application sent" in n], report
    payload_index, awkward = by_query["SELECT id FROM tasks WHERE payload = $1 AND id > $2"]
    assert (payload_index["columns"][0], awkward["costing"]) == ("payload", "observed")
    # any parameter, whatever it is compared with, is bound to what the log says it was sent
    any_index, any_pending = by_query[ANY_PENDING.replace("%s", "$1")]
    assert (any_index["name"], any_pending["costing"]) == (status_index["name"], "observed")
    measured = {q["query"]: q for q in report["verification"]["queries"]}
    for text in (PENDING, ANY_PENDING):
        query = measured[text.replace("%s", "$1")]
        assert query["values"] == ["(observed)"]  # measured with the value sent, which is not printed
        assert query["after_ms"] < query["before_ms"] / 3, query
    # before: both `LIKE $1` were a search only if the application sent a leading wildcard ("ambiguous")
    [search] = report["search_indexes"]
    assert [(q["query"], q["ambiguous"]) for q in search["queries"]] == [
        (CONTAINS.replace("%s", "$1"), False)
    ]
