"""The advisor on a real cluster with HypoPG: which indexes it picks, what it leaves alone, the budget."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import conninfo

from pgdba.advisor.advise import Advice, AdvisorOptions, advise_indexes, resolve_columns
from pgdba.advisor.candidates import Candidate, generate_candidates, predicate_key
from pgdba.advisor.verify import mark_measured, verify_advice
from pgdba.advisor.workload import WorkloadQuery, queries_from_statements, table_writes_from_statements
from pgdba.server import ServerFacts, load_server_facts
from pgdba.target import Target
from tests.advisor.helpers import advise
from tests.conftest import TestDatabase
from tests.matrix.stats_visibility import eventually, publish_stats

SCHEMA = """
CREATE TABLE customers (id int PRIMARY KEY, email text NOT NULL, country text NOT NULL) WITH (autovacuum_enabled = off);
INSERT INTO customers
SELECT g, 'user' || g || '@example.com', (ARRAY['de', 'fr', 'us'])[1 + g % 3]
  FROM generate_series(1, 20000) g;
CREATE TABLE orders (id int PRIMARY KEY, customer_id int NOT NULL, status text NOT NULL,
                     total numeric NOT NULL, created_at timestamptz NOT NULL) WITH (autovacuum_enabled = off);
INSERT INTO orders
SELECT g, 1 + g % 20000, (ARRAY['new', 'paid', 'shipped', 'done'])[1 + g % 4], g % 500,
       timestamptz '2024-01-01' + g * interval '1 minute'
  FROM generate_series(1, 40000) g;
CREATE TABLE events (id int, account_id int NOT NULL, created_at timestamptz NOT NULL, payload text) WITH (autovacuum_enabled = off);
INSERT INTO events
SELECT g, g % 1000, timestamptz '2024-01-01' + g * interval '1 second', md5(g::text)
  FROM generate_series(1, 30000) g;
ANALYZE;
"""


# autovacuum off: a vacuum after the load marks the pages all-visible, and then covering indexes (email, id)
# rightly win over (email); the tests want one known state
@pytest.fixture
def shop(db: TestDatabase) -> TestDatabase:
    db.execute(SCHEMA)
    return db


def facts_of(db: TestDatabase) -> ServerFacts:
    with db.target.connect() as conn:
        return load_server_facts(conn)


def chosen(advice: Advice) -> list[tuple[str, tuple[str, ...]]]:
    return [(r.candidate.table, r.candidate.columns) for r in advice.recommendations]


@pytest.mark.catalog
@pytest.mark.hypopg
def test_equality_and_range_give_equality_column_first(shop: TestDatabase) -> None:
    advice = advise(shop, ["SELECT * FROM events WHERE created_at > $2 AND account_id = $1"])
    assert chosen(advice) == [("events", ("account_id", "created_at"))]
    assert advice.relative_cost < 0.2
    helped = advice.recommendations[0].queries
    assert len(helped) == 1 and helped[0].cost_after < helped[0].cost_before


@pytest.mark.catalog
@pytest.mark.hypopg
def test_join_gets_the_index_on_the_inner_sides_join_key(shop: TestDatabase) -> None:
    advice = advise(
        shop, ["SELECT o.* FROM customers c JOIN orders o ON o.customer_id = c.id WHERE c.email = $1"]
    )
    assert ("orders", ("customer_id",)) in chosen(advice)
    assert ("customers", ("email",)) in chosen(advice)


@pytest.mark.catalog
@pytest.mark.hypopg
def test_order_by_limit_gets_a_sort_matching_index(shop: TestDatabase) -> None:
    # 30 events per account: the index must also deliver them in created_at order to stop after 10
    advice = advise(shop, ["SELECT * FROM events WHERE account_id = $1 ORDER BY created_at DESC LIMIT 10"])
    assert chosen(advice) == [("events", ("account_id", "created_at"))]


@pytest.mark.catalog
@pytest.mark.hypopg
def test_query_already_served_by_an_existing_index_gets_nothing(shop: TestDatabase) -> None:
    shop.execute("CREATE INDEX events_account_created ON events (account_id, created_at)")
    advice = advise(shop, ["SELECT * FROM events WHERE account_id = $1 AND created_at > $2"])
    assert advice.recommendations == []
    assert "events_account_created" in advice.workload_indexes
    assert all(d.index.name != "events_account_created" for d in advice.drops)


@pytest.mark.catalog
@pytest.mark.hypopg
def test_budget_is_respected(shop: TestDatabase) -> None:
    workload = [
        "SELECT * FROM events WHERE account_id = $1",
        "SELECT * FROM orders WHERE customer_id = $1",
        "SELECT * FROM customers WHERE email = $1",
    ]
    unlimited = advise(shop, workload, budget_mb=None)
    assert len(unlimited.recommendations) == 3
    smallest = min(r.size_bytes for r in unlimited.recommendations)
    budget_mb = (smallest + 8192) / 2**20
    limited = advise(shop, workload, budget_mb=budget_mb)
    assert 1 <= len(limited.recommendations) < 3
    assert limited.used_bytes <= budget_mb * 2**20
    assert limited.cost_after > unlimited.cost_after


@pytest.mark.catalog
@pytest.mark.hypopg
def test_minimum_improvement_is_visible_and_applied(shop: TestDatabase) -> None:
    workload = ["SELECT * FROM events WHERE account_id = $1"]
    advice = advise(shop, workload, min_improvement_pct=99.9)
    assert advice.recommendations == []
    assert advice.to_dict()["settings"]["min_improvement_pct"] == 99.9


@pytest.mark.catalog
@pytest.mark.hypopg
def test_recurring_constant_predicates_yield_a_partial_candidate(shop: TestDatabase) -> None:
    advice = advise(
        shop,
        [
            "SELECT * FROM orders WHERE status = 'new' AND total > 490",
            "SELECT count(*) FROM orders WHERE status = 'new' AND total > 495",
        ],
    )
    assert advice.recommendations, "a filter on 1 % of the rows must get an index"
    assert (
        advice.candidates >= 4
    )  # (status), (total), (status, total) and the partial (total) WHERE status = 'new'


@pytest.mark.catalog
@pytest.mark.hypopg
def test_hypothetical_sizes_and_estimates_are_both_reported(shop: TestDatabase) -> None:
    advice = advise(shop, ["SELECT * FROM customers WHERE email = $1"])
    recommendation = advice.recommendations[0]
    assert recommendation.hypopg_size_bytes and recommendation.hypopg_size_bytes > 0
    shop.execute(recommendation.candidate.sql_text(None, concurrently=False))
    with shop.connect() as conn:
        row = conn.execute(
            "SELECT pg_relation_size(%s::regclass)", (f'"{recommendation.candidate.name()}"',)
        ).fetchone()
    assert row is not None
    assert 0.7 < recommendation.size_bytes / row[0] < 1.3


@pytest.mark.catalog
@pytest.mark.hypopg
def test_indexes_on_tables_nothing_writes_are_packed_full(shop: TestDatabase) -> None:
    """A table loaded and analysed, never updated: its index is advised WITH (fillfactor = 100), estimated
    and built smaller than PostgreSQL's default 90 would build it. Lost statistics or one UPDATE end that."""
    # orders is read too, by a lookup its primary key serves: no index there, and the note does not name it
    query = ["SELECT * FROM customers WHERE email = $1", "SELECT * FROM orders WHERE id = $1"]

    def fillfactor_of(advice: Advice) -> int | None:
        return advice.recommendations[0].candidate.fillfactor

    def inserted() -> int:
        with shop.connect() as conn:
            row = conn.execute(
                "SELECT n_tup_ins FROM pg_stat_user_tables WHERE relname = 'customers'"
            ).fetchone()
        return int(row[0]) if row else 0

    # the fixture's load counts once its session has published it; ANALYZE after that, as autovacuum would
    eventually(inserted, lambda rows: rows >= 20000)
    with shop.connect() as conn:
        conn.execute("ANALYZE customers, orders")
        publish_stats(conn)
    packed = eventually(lambda: advise(shop, query), lambda a: fillfactor_of(a) == 100)
    assert fillfactor_of(packed) == 100
    assert "WITH (fillfactor = 100)" in packed.recommendations[0].sql
    [note] = [note for note in packed.notes if "fillfactor = 100" in note]
    assert "(public.customers: " in note
    assert packed.to_dict()["indexes"][0]["fillfactor"] == 100
    with shop.target.connect() as conn:  # the workload itself writes the table: not static
        written_by_workload = advise_indexes(
            conn, facts_of(shop), [WorkloadQuery(query[0])], writes={"public.customers": 10.0}
        )
    assert fillfactor_of(written_by_workload) is None
    default = advise(shop, query, static_fillfactor=90)
    assert fillfactor_of(default) is None and "fillfactor" not in default.recommendations[0].sql
    assert packed.recommendations[0].size_bytes < default.recommendations[0].size_bytes * 0.95
    with shop.connect() as conn:
        sizes = []
        for advice in (packed, default):
            conn.execute(advice.recommendations[0].candidate.sql_text(None, concurrently=False))
            size = conn.execute(
                "SELECT pg_relation_size(%s::regclass)", (f'"{advice.recommendations[0].candidate.name()}"',)
            ).fetchone()
            assert size is not None
            sizes.append(size[0])
            conn.execute(f'DROP INDEX "{advice.recommendations[0].candidate.name()}"')
    assert sizes[0] < sizes[1] * 0.95  # built: fuller leaf pages
    # statistics lost (a reset, or a crash): nothing says the table is static any more
    with shop.connect() as conn:
        conn.execute("SELECT pg_stat_reset_single_table_counters('customers'::regclass)")
    reset = eventually(lambda: advise(shop, query), lambda a: fillfactor_of(a) is None)
    assert fillfactor_of(reset) is None
    with shop.connect() as conn:
        conn.execute("ANALYZE customers")
        publish_stats(conn)
    assert fillfactor_of(eventually(lambda: advise(shop, query), lambda a: fillfactor_of(a) == 100)) == 100
    with shop.connect() as conn:
        conn.execute("UPDATE customers SET country = 'de' WHERE id = 1")
        publish_stats(conn)
    written = eventually(lambda: advise(shop, query), lambda a: fillfactor_of(a) is None)
    assert fillfactor_of(written) is None
    assert "fillfactor" not in written.recommendations[0].sql


@pytest.mark.catalog
@pytest.mark.hypopg
def test_workload_from_pg_stat_statements_weighs_calls(shop: TestDatabase) -> None:
    with shop.connect() as conn:
        conn.execute("SELECT pg_stat_statements_reset()")
        conn.execute("SELECT pg_stat_reset()")  # the load's inserts are not part of this window
        for account in range(20):
            conn.execute("SELECT * FROM events WHERE account_id = %s", (account,))
        conn.execute("SELECT * FROM customers WHERE email = %s", ("user1@example.com",))
        for account in (7, 70000):  # psycopg 3 types an int by its value: smallint, then integer
            conn.execute("SELECT id FROM events WHERE account_id = %s AND payload <> 'z'", (account,))
    with shop.target.connect() as conn:
        facts = load_server_facts(conn)
        workload = queries_from_statements(conn, facts, min_calls=2)
        assert [q.calls for q in workload if "SELECT * FROM events" in q.sql] == [20]
        assert not any("customers" in q.sql for q in workload)  # one call is below --min-calls
        # one call with a smallint and one with an integer (below): two queryids of one call each
        [split] = [q for q in workload if "payload <> $2" in q.sql]
        assert split.calls == 2
        advice = advise_indexes(
            conn, facts, workload, AdvisorOptions(), writes=table_writes_from_statements(conn, facts)
        )
    assert chosen(advice) == [("events", ("account_id",))]
    assert advice.recommendations[0].queries[0].calls == 20


@pytest.mark.catalog
@pytest.mark.hypopg
def test_heavy_writes_outweigh_a_rarely_read_index(shop: TestDatabase) -> None:
    with shop.connect() as conn:
        conn.execute("SELECT pg_stat_statements_reset()")
        conn.execute("SELECT pg_stat_reset()")
        for account in range(2):
            conn.execute("SELECT * FROM events WHERE account_id = %s", (account,))
        conn.execute("INSERT INTO events SELECT g, g % 1000, now(), 'x' FROM generate_series(1, 30000) g")
    with shop.target.connect() as conn:
        facts = load_server_facts(conn)
        workload = queries_from_statements(conn, facts, min_calls=2)
        light = advise_indexes(
            conn,
            facts,
            workload,
            AdvisorOptions(write_cost_per_row=0.0),
            writes=table_writes_from_statements(conn, facts),
        )
        heavy = advise_indexes(
            conn,
            facts,
            workload,
            AdvisorOptions(write_cost_per_row=1.0),
            writes=table_writes_from_statements(conn, facts),
        )
    assert chosen(light) == [("events", ("account_id",))]
    assert heavy.recommendations == []  # 30 000 inserted rows cost more than two lookups save


@pytest.mark.hypopg
def test_hypopg_in_a_schema_off_the_search_path_is_used_and_one_the_role_may_not_use_is_named(
    shop: TestDatabase,
) -> None:
    # Supabase's layout: extensions in their own schema
    shop.execute("DROP EXTENSION hypopg; CREATE SCHEMA ext; CREATE EXTENSION hypopg SCHEMA ext")
    query = "SELECT * FROM events WHERE account_id = $1 AND created_at > $2"
    advice = advise(shop, [query])
    assert advice.hypopg and chosen(advice) == [("events", ("account_id", "created_at"))]
    assert advice.recommendations[0].status == "estimated" and advice.whatif_calls > 0
    role = f"adv_{shop.name}"
    shop.execute(
        f"CREATE ROLE {role} LOGIN PASSWORD 'adv-pw'; GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}"
    )
    try:
        dsn = conninfo.make_conninfo(shop.dsn, user=role, password="adv-pw", passfile="")
        unusable = advise(TestDatabase(shop.name, dsn, Target(dsn), shop.cluster), [query])
    finally:
        shop.execute(f"DROP OWNED BY {role}; DROP ROLE {role}")
    assert not unusable.hypopg and unusable.recommendations[0].status == "unverified"
    assert (
        'HypoPG is installed in schema ext, which this role may not use (GRANT USAGE ON SCHEMA "ext" TO the role)'
        ": candidates are rule-based and unverified" in unusable.notes
    )


@pytest.mark.catalog
def test_without_hypopg_candidates_are_rule_based_and_unverified(shop: TestDatabase) -> None:
    shop.execute("DROP EXTENSION IF EXISTS hypopg")
    advice = advise(shop, ["SELECT * FROM events WHERE account_id = $1 AND created_at > $2"])
    assert not advice.hypopg
    assert chosen(advice) == [("events", ("account_id", "created_at"))]
    [recommendation] = advice.recommendations
    assert recommendation.status == "unverified" and recommendation.to_dict()["costed"] is False
    assert any("HypoPG is not installed" in note for note in advice.notes)
    # --verify may measure it slower: the status says so, and it still claims no estimated share
    mark_measured(advice, {"queries": [{"query": recommendation.queries[0].sql, "verdict": "slower"}]})
    assert recommendation.status == "measured slower"
    [finding] = [f for f in advice.findings() if f.code == "advisor.create_index"]
    assert finding.title == "index public.events(account_id, created_at) is not costed (measured slower)"


@pytest.mark.catalog
@pytest.mark.hypopg
def test_drop_advice_never_touches_unique_primary_or_constraint_indexes(shop: TestDatabase) -> None:
    shop.execute(
        """
        CREATE UNIQUE INDEX customers_email_key ON customers (email);
        ALTER TABLE orders ADD CONSTRAINT orders_status_total UNIQUE (status, total, id);
        CREATE INDEX orders_status ON orders (status);
        CREATE INDEX events_payload ON events (payload);
        """
    )
    # (unused indexes judged on the test cluster's statistics, which began when the suite started)
    advice = advise(shop, ["SELECT * FROM events WHERE account_id = $1"], min_stats_age_days=0)
    drops = {d.index.name: d.reason for d in advice.drops}
    assert drops == {"orders_status": "redundant", "events_payload": "unused"}
    assert all("DROP INDEX CONCURRENTLY" in d.ddl().as_string(None) for d in advice.drops)


@pytest.mark.catalog
@pytest.mark.hypopg
def test_hypothetical_indexes_never_become_real(shop: TestDatabase) -> None:
    advise(shop, ["SELECT * FROM events WHERE account_id = $1"])
    with shop.connect() as conn:
        row = conn.execute("SELECT count(*) FROM pg_indexes WHERE tablename = 'events'").fetchone()
    assert row == (0,)


def test_candidate_sql_quotes_identifiers_and_literals() -> None:
    candidate = Candidate("my schema", 'we"ird', ("a b",), ("c",), "st", "x'y")
    text = candidate.ddl(concurrently=True).as_string(None)
    assert text == (
        'CREATE INDEX CONCURRENTLY IF NOT EXISTS "we""ird_a b_c_where_st_x_y_508b2369_idx" '
        'ON "my schema"."we""ird" '
        'USING btree ("a b") INCLUDE ("c") WHERE "st" = \'x\'\'y\''
    )


def test_a_packed_index_carries_its_fillfactor_before_the_predicate() -> None:
    packed = Candidate("public", "t", ("a",), ("b",), "deleted_at", None, "IS NULL", fillfactor=100)
    assert packed.ddl(concurrently=False, named=False).as_string(None) == (
        'CREATE INDEX ON "public"."t" USING btree ("a") INCLUDE ("b") WITH (fillfactor = 100) '
        'WHERE "deleted_at" IS NULL'
    )
    # the default has one spelling: no storage clause, equal to the candidate without one
    assert Candidate("public", "t", ("a",), fillfactor=90) == Candidate("public", "t", ("a",))
    assert "WITH" not in Candidate("public", "t", ("a",), fillfactor=90).sql_text(None)
    assert packed.extended("c").fillfactor == 100
    with pytest.raises(ValueError, match="fillfactor"):
        Candidate("public", "t", ("a",), fillfactor=5)


@pytest.mark.catalog
@pytest.mark.hypopg
def test_unexplainable_queries_are_skipped_with_the_reason(shop: TestDatabase) -> None:
    advice = advise(
        shop,
        ["SELECT * FROM events WHERE account_id = $1", "SELECT * FROM events WHERE no_such_column = $1"],
    )
    assert [reason.startswith("cannot EXPLAIN") for _, reason in advice.skipped] == [True]
    assert advice.queries == 1


@pytest.mark.catalog
def test_apply_session_is_needed_to_write(shop: TestDatabase) -> None:
    with shop.target.connect() as conn, pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        conn.execute("CREATE INDEX ON events (account_id)")


@pytest.mark.catalog
@pytest.mark.hypopg
def test_unscanned_foreign_key_index_is_kept_and_a_used_duplicate_is_still_redundant(
    shop: TestDatabase,
) -> None:
    shop.execute(
        """
        ALTER TABLE orders ADD CONSTRAINT orders_customer FOREIGN KEY (customer_id) REFERENCES customers (id);
        CREATE INDEX orders_customer_id ON orders (customer_id);
        CREATE UNIQUE INDEX customers_email_key ON customers (email);
        CREATE INDEX customers_email_plain ON customers (email);
        """
    )
    advice = advise(shop, ["SELECT * FROM customers WHERE email = $1"])
    drops = {d.index.name: d.reason for d in advice.drops}
    assert "orders_customer_id" not in drops  # never scanned, but the FK check on customers needs it
    assert drops.get("customers_email_plain") == "redundant"


JOBS = """
CREATE TABLE jobs (id int PRIMARY KEY, queue text NOT NULL, created_at timestamptz NOT NULL,
                   finished_at timestamptz, referrer_id int);
INSERT INTO jobs
SELECT g, (ARRAY['mail', 'video', 'grade'])[1 + g % 3], timestamptz '2024-01-01' + g * interval '1 minute',
       CASE WHEN g % 100 <> 0 THEN timestamptz '2024-01-02' + g * interval '1 minute' END,
       CASE WHEN g % 20 = 0 THEN g % 997 END
  FROM generate_series(1, 60000) g;
ANALYZE jobs;
"""


@pytest.mark.catalog
@pytest.mark.hypopg
def test_a_queue_poll_gets_an_index_over_only_the_unfinished_rows(db: TestDatabase) -> None:
    db.execute(JOBS)
    poll = "SELECT * FROM jobs WHERE finished_at IS NULL AND queue = $1 ORDER BY created_at LIMIT 10"
    advice = advise(db, [poll])
    assert len(advice.recommendations) == 1
    recommendation = advice.recommendations[0]
    # (created_at) or (queue, created_at): the poll's order, over the unfinished rows only
    assert recommendation.candidate.columns[-1] == "created_at"
    assert recommendation.candidate.predicate() == "finished_at IS NULL"
    # 1 % of the rows are unfinished: the index holds those rows only
    with db.connect() as conn:
        row = conn.execute("SELECT pg_relation_size('jobs')").fetchone()
    assert row is not None and recommendation.size_bytes < row[0] / 20
    assert recommendation.sql.endswith('WHERE "finished_at" IS NULL')
    verification = verify_advice(db.target, facts_of(db), advice, on_target=False)
    assert [c["index"] for c in verification["created"]] == [recommendation.candidate.name()]
    assert verification["after_ms"] < verification["before_ms"]


@pytest.mark.catalog
@pytest.mark.hypopg
def test_an_existing_partial_index_is_not_proposed_again(db: TestDatabase) -> None:
    db.execute(JOBS)
    poll = "SELECT * FROM jobs WHERE finished_at IS NULL AND queue = $1 ORDER BY created_at LIMIT 10"
    advised = advise(db, [poll]).recommendations[0].candidate
    db.execute(advised.sql_text(None, concurrently=False))

    def repeats(candidates: set[Candidate]) -> list[str]:
        return [
            c.label()
            for c in candidates
            if c.predicate() == advised.predicate() and advised.columns[: len(c.columns)] == c.columns
        ]

    with db.target.connect() as conn:
        _texts, columns, tables = resolve_columns(conn, [poll])
    assert repeats(generate_candidates(columns, tables).candidates) == []
    # the same index without its predicate would be: it still serves only the unfinished rows
    tables["jobs"].indexes = [i for i in tables["jobs"].indexes if i.predicate is None]
    assert repeats(generate_candidates(columns, tables).candidates) != []
    assert advise(db, [poll]).recommendations == []


@pytest.mark.catalog
def test_partial_predicates_read_back_as_postgresql_prints_them(db: TestDatabase) -> None:
    """Existing partial indexes compare with candidates by column, operator and constant, whatever casts
    PostgreSQL prints (text, varchar, an enum, numeric, a boolean as `NOT col`)."""
    db.execute(
        """
        CREATE TYPE mood AS ENUM ('calm', 'busy');
        CREATE TABLE p (a int, t text, v varchar(10), e mood, n numeric, b boolean, d timestamptz);
        CREATE INDEX p_t ON p (a) WHERE t = 'new';
        CREATE INDEX p_v ON p (a) WHERE v = 'it''s';
        CREATE INDEX p_e ON p (a) WHERE e = 'busy';
        CREATE INDEX p_n ON p (a) WHERE n = 5;
        CREATE INDEX p_i ON p (a) WHERE a = -3;
        CREATE INDEX p_f ON p (a) WHERE b = false;
        CREATE INDEX p_tr ON p (a) WHERE b = true;
        CREATE INDEX p_null ON p (a) WHERE d IS NULL;
        CREATE INDEX p_not_null ON p (a) WHERE d IS NOT NULL;
        CREATE INDEX p_other ON p (a) WHERE a > 3;
        """
    )
    with db.target.connect() as conn:
        _texts, _columns, tables = resolve_columns(conn, ["SELECT * FROM p"])
    read = {i.name: predicate_key(i.predicate) for i in tables["p"].indexes}

    def key(column: str, value: str | int | bool | None, operator: str = "=") -> object:
        return Candidate("public", "p", ("a",), (), column, value, operator).predicate_key()

    assert read == {
        "p_t": key("t", "new"),
        "p_v": key("v", "it's"),
        "p_e": key("e", "busy"),
        "p_n": key("n", 5),
        "p_i": key("a", -3),
        "p_f": key("b", False),
        "p_tr": key("b", True),
        "p_null": key("d", None, "IS NULL"),
        "p_not_null": key("d", None, "IS NOT NULL"),
        "p_other": None,
    }


@pytest.mark.catalog
@pytest.mark.hypopg
def test_a_mostly_null_key_gets_an_index_without_its_null_rows(db: TestDatabase) -> None:
    db.execute(JOBS)
    advice = advise(db, ["SELECT * FROM jobs WHERE referrer_id = $1"])
    assert [r.candidate.label() for r in advice.recommendations] == [
        "public.jobs(referrer_id) WHERE referrer_id IS NOT NULL"
    ]
    # the plan uses it for `referrer_id = $1`: a strict comparison never matches the rows left out
    helped = advice.recommendations[0].queries
    assert len(helped) == 1 and helped[0].cost_after < helped[0].cost_before / 10


@pytest.mark.catalog
@pytest.mark.hypopg
def test_same_column_under_another_opclass_or_collation_is_not_dropped_as_redundant(db: TestDatabase) -> None:
    db.execute(
        """
        CREATE TABLE dd (id int PRIMARY KEY, t text);
        INSERT INTO dd SELECT g, md5(g::text) FROM generate_series(1, 20000) g;
        ANALYZE dd;
        CREATE INDEX dd_t_again ON dd (t);
        CREATE INDEX dd_t ON dd (t);
        CREATE INDEX dd_t_pattern ON dd (t text_pattern_ops);
        CREATE INDEX dd_t_c ON dd (t COLLATE "C");
        """
    )
    workload = [
        "SELECT * FROM dd WHERE t LIKE 'ab%'",
        "SELECT * FROM dd WHERE t ~>=~ 'ab' AND t ~<~ 'ac'",  # only text_pattern_ops has these operators
        "SELECT * FROM dd WHERE t COLLATE \"C\" >= 'ab' AND t COLLATE \"C\" < 'ac'",  # only the "C" index
        # only text_ops under the column's collation: of two equal indexes the planner takes the newer, dd_t
        "SELECT * FROM dd WHERE t < '00a'",
    ]
    advice = advise(db, workload)
    assert {"dd_t", "dd_t_pattern", "dd_t_c"} <= advice.workload_indexes
    drops = {d.index.name: d for d in advice.drops}
    assert "dd_t_pattern" not in drops and "dd_t_c" not in drops
    assert {n: (d.reason, d.detail) for n, d in drops.items()} == {
        "dd_t_again": ("redundant", "its columns lead dd_t")
    }
