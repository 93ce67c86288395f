"""Workload files and logs, candidate generation, size estimates and ORM patch text (no server needed)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from pgdba.advisor.candidates import Candidate, generate_candidates
from pgdba.advisor.catalog import ColumnInfo, TableInfo
from pgdba.advisor.orm_patch import drizzle_index_call, drizzle_patch, prisma_patch
from pgdba.advisor.query_columns import columns_by_role
from pgdba.advisor.server_log import parameter_values
from pgdba.advisor.sizes import estimated_index_bytes
from pgdba.advisor.workload import is_advisable, parameter_count, queries_from_file

LOG = """2026-11-28 10:00:00.000 UTC [42] LOG:  duration: 12.500 ms  statement: SELECT * FROM orders
\tWHERE customer_id = 7
2026-11-28 10:00:01.000 UTC [42] LOG:  duration: 10.000 ms  statement: SELECT * FROM orders WHERE customer_id = 9
2026-11-28 10:00:02.000 UTC [42] LOG:  duration: 3.000 ms  execute <unnamed>: SELECT * FROM users WHERE id = $1
2026-11-28 10:00:03.000 UTC [42] LOG:  statement: BEGIN
"""


def test_log_file_statements_are_merged_by_fingerprint_with_their_durations(tmp_path: Path) -> None:
    log = tmp_path / "postgresql.log"
    log.write_text(LOG)
    queries = queries_from_file(log)
    by_table = {("orders" in q.sql): q for q in queries}
    assert len(queries) == 2
    assert by_table[True].calls == 2 and by_table[True].total_ms == pytest.approx(22.5)
    assert by_table[False].sql == "SELECT * FROM users WHERE id = $1"


def test_sql_file_keeps_only_statements_an_index_can_help(tmp_path: Path) -> None:
    path = tmp_path / "w.sql"
    path.write_text(
        "SELECT * FROM t WHERE a = 1; INSERT INTO t VALUES (1); SELECT * FROM pg_class; "
        "UPDATE t SET b = 1 WHERE a = $1; SELECT 1;"
    )
    assert [q.sql for q in queries_from_file(path)] == [
        "SELECT * FROM t WHERE a = 1",
        "UPDATE t SET b = 1 WHERE a = $1",
    ]


def test_parameter_count_and_advisable() -> None:
    assert parameter_count("SELECT * FROM t WHERE a = $1 AND b IN ($3, $2) LIMIT $4") == 4
    assert parameter_count("SELECT * FROM t WHERE a = 1") == 0
    assert is_advisable("INSERT INTO t SELECT * FROM s WHERE x = 1")
    assert not is_advisable("SELECT hypopg_reset()")
    assert not is_advisable("SELECT * FROM information_schema.tables")


def _table() -> TableInfo:
    def column(name: str, distinct: float, width: int = 4) -> ColumnInfo:
        return ColumnInfo(name, "integer", True, width, distinct, 0.0, True)

    table = TableInfo(1, "public", "events", 100_000, 1000, 8_192_000, 0)
    table.columns = {
        "id": column("id", 100_000),
        "account_id": column("account_id", 1000),
        "kind": column("kind", 5),
        "created_at": column("created_at", 100_000, 8),
        "payload": column("payload", 100_000, 40),
    }
    return table


def test_candidates_put_equality_first_add_covering_and_partial_variants() -> None:
    table = _table()
    queries = [
        columns_by_role("SELECT payload FROM events WHERE created_at > $2 AND account_id = $1 AND kind = 3"),
        columns_by_role("SELECT count(*) FROM events WHERE kind = 3 AND created_at > now()"),
    ]
    found = generate_candidates(queries, {"events": table}).candidates
    keys = {(c.columns, c.include, c.where_column) for c in found}
    assert (("account_id", "kind", "created_at"), (), None) in keys  # equality (by selectivity), then range
    assert (("account_id", "created_at"), ("kind", "payload"), None) in keys  # covering: index-only scan
    assert (("account_id", "created_at"), (), "kind") in keys  # kind = 3 recurs: partial candidate
    assert all(c.columns[0] != "payload" for c in found)  # only read, never filtered


def _queue_table() -> TableInfo:
    """jobs: 1 % of rows unfinished (finished_at null), referrer_id null on 95 % of rows."""
    table = TableInfo(2, "public", "jobs", 100_000, 1000, 8_192_000, 0)
    table.columns = {
        "id": ColumnInfo("id", "integer", True, 4, 100_000, 0.0, True),
        "queue": ColumnInfo("queue", "text", True, 6, 5, 0.0, True),
        "created_at": ColumnInfo("created_at", "timestamptz", True, 8, 100_000, 0.0, True),
        "finished_at": ColumnInfo("finished_at", "timestamptz", True, 8, 99_000, 0.01, True),
        "referrer_id": ColumnInfo("referrer_id", "integer", True, 4, 4_000, 0.95, True),
        "deleted_at": ColumnInfo("deleted_at", "timestamptz", True, 8, 10_000, 0.9, True),
    }
    return table


def test_null_tests_yield_partial_candidates_where_they_leave_most_rows_out() -> None:
    table = _queue_table()
    queries = [
        columns_by_role(
            "SELECT * FROM jobs WHERE finished_at IS NULL AND queue = $1 ORDER BY created_at LIMIT 10"
        ),
        columns_by_role("SELECT * FROM jobs WHERE referrer_id = $1"),
        # deleted_at is null on 90 % of the rows: an index over those rows saves little
        columns_by_role("SELECT * FROM jobs WHERE deleted_at IS NULL AND queue = $1"),
        # IS NOT DISTINCT FROM matches null rows too: no IS NOT NULL partial for it
        columns_by_role("SELECT * FROM jobs WHERE referrer_id IS NOT DISTINCT FROM $1 AND queue = $2"),
    ]
    found = generate_candidates(queries, {"jobs": table})
    partial = {(c.columns, c.where_column, c.where_operator) for c in found.candidates if c.is_partial}
    assert (("queue",), "finished_at", "IS NULL") in partial
    assert (("queue", "created_at"), "finished_at", "IS NULL") in partial
    assert (("referrer_id",), "referrer_id", "IS NOT NULL") in partial
    assert not any(where == "deleted_at" for _, where, _ in partial)
    assert {c for c in found.by_query[3] if c.is_partial} == set()
    queue_partial = Candidate("public", "jobs", ("queue", "created_at"), (), "finished_at", None, "IS NULL")
    assert queue_partial.ddl(concurrently=True).as_string(None).endswith('WHERE "finished_at" IS NULL')
    assert queue_partial.to_dict()["where"] == "finished_at IS NULL"
    full = Candidate("public", "jobs", ("finished_at", "queue", "created_at"))
    # the partial index holds the 1 % of unfinished rows
    assert estimated_index_bytes(queue_partial, table) < estimated_index_bytes(full, table) / 20


def test_every_candidate_gets_its_own_name_within_63_characters() -> None:
    def partial(value: object) -> Candidate:
        return Candidate("public", "orders", ("total",), (), "status", value)  # type: ignore[arg-type]

    long = "a_rather_long_column_name_for_an_index"
    wide = [
        Candidate("public", "lineitem", ("l_shipmode", long), (long + "_1", long + "_2")),
        Candidate("public", "lineitem", ("l_shipmode", long), (long + "_1", long + "_3")),
    ]
    candidates = [
        partial("new"),
        partial("paid"),
        partial("a b"),
        partial("a_b"),
        *wide,
        Candidate("public", "orders", ("total",), (), "status", None, "IS NULL"),
        Candidate("public", "orders", ("total",), (), "status", None, "IS NOT NULL"),
    ]
    names = [c.name() for c in candidates]
    assert len(set(names)) == len(names)
    assert all(len(name) <= 63 for name in names)
    assert partial("new").name() == "orders_total_where_status_new_idx"
    with pytest.raises(ValueError, match="operator"):
        Candidate("public", "orders", ("total",), (), "status", None, "; DROP TABLE orders")


def test_candidates_already_served_by_an_existing_index_are_left_out() -> None:
    from pgdba.advisor.catalog import ExistingIndex

    table = _table()
    table.indexes.append(
        ExistingIndex(
            "e_acc",
            "public",
            "events",
            ("account_id", "created_at"),
            "btree",
            False,
            False,
            False,
            True,
            False,
            0,
            0,
            "",
        )
    )
    found = generate_candidates(
        [columns_by_role("SELECT * FROM events WHERE account_id = $1")], {"events": table}
    )
    assert found.candidates == set()


PRISMA = """model Order {
  id         Int    @id
  customerId Int    @map("customer_id")
  status     String

  @@index([status])
  @@map("orders")
}
"""
DRIZZLE = """import { pgTable, integer, text, index } from "drizzle-orm/pg-core";

export const orders = pgTable(
  "orders",
  {
    id: integer("id").primaryKey(),
    customerId: integer("customer_id").notNull(),
    status: text("status"),
  },
  (table) => ({
    statusIdx: index("orders_status_idx").on(table.status),
  }),
);
"""


def test_prisma_patch_goes_into_the_mapped_model(tmp_path: Path) -> None:
    schema = tmp_path / "schema.prisma"
    schema.write_text(PRISMA)
    patch = prisma_patch(
        schema,
        [
            Candidate("public", "orders", ("customer_id", "status")),
            Candidate("public", "orders", ("id",), ("status",)),
        ],
    )
    assert patch.new_text.splitlines()[7] == "  @@index([customerId, status])"
    assert patch.new_text.splitlines()[8] == "}"
    assert patch.unmapped == [
        "public.orders(id) INCLUDE (status): Prisma cannot express INCLUDE / partial / expression indexes; "
        "use the SQL"
    ]


def test_drizzle_patch_extends_an_object_style_third_argument(tmp_path: Path) -> None:
    schema = tmp_path / "schema.ts"
    schema.write_text(DRIZZLE)
    patch = drizzle_patch(schema, [Candidate("public", "orders", ("customer_id",))])
    assert 'statusIdx: index("orders_status_idx").on(table.status),\n' in patch.new_text
    assert 'ordersCustomerIdIdx: index("orders_customer_id_idx").on(table.customerId),' in patch.new_text
    assert patch.new_text.count("import {") == 1 and ", index, index" not in patch.new_text


def test_drizzle_partial_predicate_is_a_safe_template_literal() -> None:
    hostile = Candidate("public", "orders", ("total",), (), "status", "a`${process.exit()}\\b")
    call = drizzle_index_call(hostile, "t", ["total"], "status")
    # the constant is a SQL literal; backticks, `${` and backslashes cannot end or enter the template
    assert call.endswith(".where(sql`${t.status} = E'a\\`\\${process.exit()}\\\\\\\\b'`)")
    assert call.count("${") == 2 and call.count("\\${") == 1
    null_test = Candidate("public", "jobs", ("created_at",), (), "finished_at", None, "IS NULL")
    assert drizzle_index_call(null_test, "t", ["createdAt"], "finishedAt") == (
        f'index("{null_test.name()}").on(t.createdAt).where(sql`${{t.finishedAt}} IS NULL`)'
    )


DRIZZLE_JOBS = """{imports}
export const jobs = pgTable("jobs", {{
  id: integer("id"),
  finishedAt: timestamp("finished_at"),
  createdAt: timestamp("created_at"),
}});
"""
PG_CORE = 'import { pgTable, integer, timestamp } from "drizzle-orm/pg-core";'


@pytest.mark.parametrize(
    ("imports", "expected"),
    [
        (PG_CORE, 'import { sql } from "drizzle-orm";'),  # a new import line
        (PG_CORE + '\nimport { sql } from "drizzle-orm";', 'import { sql } from "drizzle-orm";'),  # kept
        (
            PG_CORE + '\nimport { eq, sql as s } from "drizzle-orm";',
            'import { eq, sql as s, sql } from "drizzle-orm";',
        ),
        (
            PG_CORE + '\nimport { sql } from "drizzle-orm/sql";',
            'import { sql } from "drizzle-orm/sql";',
        ),  # bound
    ],
    ids=["missing", "present", "aliased", "from-another-module"],
)
def test_drizzle_partial_patch_binds_sql_exactly_once(tmp_path: Path, imports: str, expected: str) -> None:
    path = tmp_path / "schema.ts"
    path.write_text(DRIZZLE_JOBS.format(imports=imports))
    partial = Candidate("public", "jobs", ("created_at",), (), "finished_at", None, "IS NULL")
    result = drizzle_patch(path, [partial])
    lines = [line for line in result.new_text.splitlines() if line.startswith("import")]
    assert lines == [PG_CORE.replace("timestamp }", "timestamp, index }"), expected]
    assert ".where(sql`${t.finishedAt} IS NULL`)" in result.new_text


@pytest.mark.parametrize("kind", ["prisma", "drizzle"])
def test_a_patched_index_on_a_large_or_partitioned_table_says_to_build_it_with_the_sql_first(
    tmp_path: Path, kind: str
) -> None:
    # the ORM's migration would create it with a plain CREATE INDEX, blocking writes until it is built
    schema = tmp_path / ("schema.prisma" if kind == "prisma" else "schema.ts")
    schema.write_text(PRISMA if kind == "prisma" else DRIZZLE)
    patch = prisma_patch if kind == "prisma" else drizzle_patch
    plain = Candidate("public", "orders", ("customer_id",))
    covering = Candidate("public", "orders", ("id",), ("status",))
    large = {"public.orders": 300 * 2**20}
    [note] = [n for n in patch(schema, [plain], (), large).notes if "CREATE INDEX" in n]
    assert "blocks writes" in note and "public.orders (300.0 MB)" in note
    assert ("prisma migrate resolve --applied" in note) == (kind == "prisma")
    assert patch(schema, [plain], (), {"public.orders": 2**20}).notes == []
    assert patch(schema, [covering], (), large).notes == []  # INCLUDE: neither patches it
    partitioned = Candidate("public", "orders", ("customer_id",), partitioned=True)
    [note] = patch(schema, [partitioned], (), {"public.orders": 2**20}).notes
    assert "public.orders (partitioned, 1.0 MB)" in note


# one line per provider's default log_line_prefix (their documented defaults): Debian's `%m [%p] %q%u@%d `,
# Amazon RDS's `%t:%r:%u@%d:[%p]:`, Azure's `%t-%c-`, pgBadger's recommended `%t [%p]: user=%u,db=%d,…`
# and Cloud SQL's `%m [%p]: [%l-1] db=%d,user=%u `
PREFIXED_LOG = """2026-11-28 10:00:00.000 UTC [42] app@shop LOG:  duration: 2.000 ms  statement: SELECT * FROM debian
2026-11-28 10:00:00 UTC:10.0.0.7(51234):app@shop:[812]:LOG:  statement: SELECT * FROM rds
2026-11-28 10:00:00 UTC-65f0a1b2.4d2-LOG:  statement: SELECT * FROM azure
2026-11-28 10:00:00 UTC [77]: user=app,db=shop,app=psql,client=10.0.0.1 LOG:  statement: SELECT * FROM badger
2026-11-28 10:00:00.000 UTC [77]: [1-1] db=shop,user=app LOG:  statement: SELECT * FROM cloudsql
2026-11-28 10:00:00.000 UTC [77]: [1-1] db=other,user=app LOG:  statement: SELECT * FROM elsewhere
"""


def test_each_providers_log_line_prefix_is_read_with_its_database_and_role(tmp_path: Path) -> None:
    log = tmp_path / "postgresql.log"
    log.write_text(PREFIXED_LOG)
    found = {q.sql.rsplit(" ", 1)[-1]: q.role for q in queries_from_file(log, "shop")}
    assert found == {"debian": "app", "rds": "app", "azure": None, "badger": "app", "cloudsql": "app"}


def test_a_psql_script_of_explained_queries_gives_the_queries_they_plan(tmp_path: Path) -> None:
    """Slow queries as a DBA keeps them: under EXPLAIN ANALYZE, between psql meta-commands (before: `cannot
    parse: syntax error at or near "\\"`, and an EXPLAIN was no query to advise on)."""
    path = tmp_path / "slow.sql"
    path.write_text(
        "\\timing on\n"
        "EXPLAIN (ANALYZE, BUFFERS) SELECT * FROM t WHERE a = 1;\n"
        "  \\x\n"
        "explain analyse verbose\nUPDATE t SET b = 2 WHERE a = 3;\n"
        "SELECT * FROM t WHERE c = 'x\\y';\n"
    )
    assert [q.sql for q in queries_from_file(path)] == [
        "SELECT * FROM t WHERE a = 1",
        "UPDATE t SET b = 2 WHERE a = 3",
        "SELECT * FROM t WHERE c = 'x\\y'",
    ]


@pytest.mark.parametrize(
    ("detail", "values"),
    [
        ("parameters: $1 = 'pending', $2 = '42'", {1: "pending", 2: "42"}),
        ("parameters: $1 = 'it''s, $2 = ''x''', $2 = NULL", {1: "it's, $2 = 'x'"}),
        ("parameters: $1 = 'a\nb'", {1: "a\nb"}),
        # cut short by log_parameter_max_length: not the value sent
        ("parameters: $1 = 'abcdef...', $2 = '7'", {2: "7"}),
        ("parameters: $1 = 'unterminated", {}),
        ("Process holding the lock: 812.", {}),
    ],
)
def test_a_statements_parameters_detail_gives_the_values_it_was_run_with(
    detail: str, values: dict[int, str]
) -> None:
    assert parameter_values(detail) == values


def test_a_rds_stderr_logs_parameters_follow_their_statement_not_a_bind_step(tmp_path: Path) -> None:
    """The DETAIL of a bind step (log_min_duration_statement = 0 logs parse, bind and execute) is no
    statement's; an execute's is, however the prefix ends, a value on two lines whole. A simple-protocol
    statement (its values in its text) has no parameters to take."""
    log = tmp_path / "postgresql.log"
    prefix = "2026-11-28 10:00:00 UTC:10.0.0.7(51234):app@shop:[812]:"
    log.write_text(
        f"{prefix}LOG:  duration: 0.100 ms  bind <unnamed>: SELECT * FROM t WHERE a = $1\n"
        f"{prefix}DETAIL:  parameters: $1 = 'bound'\n"
        f"{prefix}LOG:  duration: 3.000 ms  execute <unnamed>: SELECT * FROM t WHERE a = $1\n"
        f"{prefix}DETAIL:  parameters: $1 = 'line one\n\tline two'\n"
        f"{prefix}LOG:  duration: 2.000 ms  execute <unnamed>: SELECT *\n\tFROM t WHERE a = $1\n"
        f"{prefix}DETAIL:  parameters: $1 = 'x'\n"
        f"{prefix}LOG:  duration: 1.000 ms  statement: SELECT * FROM t WHERE a = 'y'\n"
        f"{prefix}DETAIL:  parameters: $1 = 'not this one''s'\n"
    )
    [query] = queries_from_file(log, "shop")
    assert (query.calls, query.sent) == (3, {1: {"line one\nline two": 1, "x": 1}})


def test_a_log_holding_bytes_that_are_not_utf8_is_read_around_them(tmp_path: Path) -> None:
    """One server's log holds the statements of its LATIN1 databases too: before, the whole file was refused
    (`is not UTF-8 text (byte 0xe9 …)`); a SQL file still is (test_text_files)."""
    prefix = b"2026-11-28 10:00:00.000 UTC [42] app@shop LOG:  duration: 1.000 ms  statement: "
    log = tmp_path / "postgresql.log"
    log.write_bytes(
        prefix
        + b"SELECT * FROM people WHERE name = 'Jos\xe9'\n"
        + prefix
        + b"SELECT * FROM orders WHERE id = 1\n"
        + prefix
        + b"SELECT * FROM orders WHERE id = 2\n"
    )
    found = {q.sql: q.calls for q in queries_from_file(log, "shop")}
    assert found == {
        "SELECT * FROM people WHERE name = 'Jos\ufffd'": 1,
        "SELECT * FROM orders WHERE id = 1": 2,
    }


@pytest.mark.timeout(60)
def test_a_log_from_a_pipe_is_read_once(tmp_path: Path) -> None:
    """`--queries <(zcat postgresql.log.gz)`: a pipe gives its lines once, so the lines that tell the
    format are parsed too, not read again (a second open waits for a writer that never comes)."""
    fifo = tmp_path / "postgresql.log"
    os.mkfifo(fifo)
    lines = "".join(
        f"2026-11-28 10:00:0{n}.000 UTC [42] app@shop LOG:  duration: 2.000 ms  statement: "
        f"SELECT * FROM orders WHERE id = {n}\n"
        for n in range(3)
    )

    def write() -> None:
        with fifo.open("w") as out:
            out.write(lines)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        [query] = queries_from_file(fifo, "shop")
    finally:
        writer.join()
    assert (query.sql, query.calls) == ("SELECT * FROM orders WHERE id = 0", 3)
