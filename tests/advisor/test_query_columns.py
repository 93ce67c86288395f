"""columns_by_role: the table columns a query uses, by role, read from PostgreSQL's parse tree."""

from __future__ import annotations

import pytest

from pgdba.advisor.query_columns import Role, TableColumn, columns_by_role
from pgdba.errors import InputError

TPCH_LIKE = {
    "part": ["p_partkey", "p_size", "p_type"],
    "partsupp": ["ps_partkey", "ps_suppkey"],
    "lineitem": ["l_partkey", "l_suppkey", "l_quantity", "l_shipdate"],
}


def names(columns: list[TableColumn]) -> list[str]:
    return [str(c) for c in columns]


def test_equality_range_and_order_of_a_normalised_query() -> None:
    q = columns_by_role(
        "SELECT * FROM orders o WHERE o.status = $1 AND o.total > $2 ORDER BY o.id DESC LIMIT $3"
    )
    assert names(q.equality) == ["orders.status"]
    assert names(q.range) == ["orders.total"]
    assert names(q.order_by) == ["orders.id"]
    assert [u.descending for u in q.uses if u.role is Role.ORDER_BY] == [True]
    assert q.blocks[0].has_limit


def test_in_any_between_and_is_null_are_classified() -> None:
    q = columns_by_role(
        "SELECT 1 FROM t WHERE a IN (1, 2) AND b = ANY($1) AND c BETWEEN 1 AND 5 AND d IS NULL"
    )
    assert names(q.equality) == ["t.a", "t.b", "t.d"]
    assert names(q.range) == ["t.c"]


def test_join_keys_from_on_using_and_where() -> None:
    q = columns_by_role(
        "SELECT * FROM a JOIN b ON a.id = b.a_id JOIN c USING (k) , d WHERE d.x = c.y",
        {"a": ["id", "k"], "b": ["a_id"], "c": ["k", "y"], "d": ["x"]},
    )
    assert set(names(q.join)) == {"a.id", "b.a_id", "a.k", "c.k", "d.x", "c.y"}
    assert q.equality == []


def test_unqualified_columns_need_the_catalog_when_several_tables_are_read() -> None:
    sql = "SELECT * FROM part, partsupp WHERE p_partkey = ps_partkey AND p_size = 15"
    without = columns_by_role(sql)
    assert without.join == [] and set(without.unresolved) == {"p_partkey", "ps_partkey", "p_size"}
    with_catalog = columns_by_role(sql, TPCH_LIKE)
    assert names(with_catalog.join) == ["part.p_partkey", "partsupp.ps_partkey"]
    assert names(with_catalog.equality) == ["part.p_size"]


def test_correlated_subquery_gives_the_inner_join_key() -> None:
    q = columns_by_role(
        "SELECT sum(l_quantity) FROM lineitem, part WHERE p_partkey = l_partkey AND l_quantity < "
        "(SELECT 0.2 * avg(l_quantity) FROM lineitem WHERE l_partkey = p_partkey)",
        TPCH_LIKE,
    )
    inner = [u for u in q.uses if u.block == 1]
    assert [(str(u.column), u.role) for u in inner] == [
        ("lineitem.l_partkey", Role.JOIN),
        ("part.p_partkey", Role.JOIN),
    ]


def test_in_subquery_is_a_semi_join_on_both_columns() -> None:
    q = columns_by_role(
        "SELECT * FROM partsupp WHERE ps_partkey IN (SELECT p_partkey FROM part WHERE p_type LIKE 'x%')",
        TPCH_LIKE,
    )
    assert set(names(q.join)) == {"partsupp.ps_partkey", "part.p_partkey"}


def test_cte_and_subselect_columns_are_not_table_columns() -> None:
    q = columns_by_role(
        "WITH recent AS (SELECT * FROM users WHERE email = $1) "
        "SELECT * FROM recent JOIN orders ON orders.user_id = recent.id ORDER BY orders.created_at"
    )
    assert names(q.equality) == ["users.email"]
    assert names(q.join) == ["orders.user_id"]
    assert names(q.order_by) == ["orders.created_at"]
    assert set(q.tables) == {"users", "orders"}


def test_group_by_and_order_by_refer_to_the_select_list() -> None:
    q = columns_by_role("SELECT o.status AS s, count(*) FROM orders o GROUP BY 1 ORDER BY s")
    assert names(q.group_by) == ["orders.status"]
    assert names(q.order_by) == ["orders.status"]


def test_or_predicates_are_marked_not_conjunctive() -> None:
    q = columns_by_role("SELECT * FROM t WHERE a = 1 AND (b = 2 OR c = 3)")
    flags = {str(u.column): u.conjunctive for u in q.uses}
    assert flags == {"t.a": True, "t.b": False, "t.c": False}


def test_literal_constants_are_kept_for_partial_index_candidates() -> None:
    q = columns_by_role("SELECT * FROM orders WHERE status = 'new' AND customer_id = $1")
    constants = {str(u.column): u.constant for u in q.uses}
    assert constants == {"orders.status": "'new'", "orders.customer_id": None}


def test_functions_of_columns_and_not_equal_are_not_index_conditions() -> None:
    q = columns_by_role("SELECT * FROM users WHERE btrim(email) = $1 AND status <> 'x'")
    assert q.uses == []
    # except lower() / upper() of a column, which an expression index serves (tests/advisor/test_expression_keys)
    [use] = columns_by_role("SELECT * FROM users WHERE lower(email) = $1 AND status <> 'x'").uses
    assert str(use.column) == "lower(users.email)"


def test_update_and_delete_where_clauses() -> None:
    assert names(columns_by_role("UPDATE s.accounts SET x = 1 WHERE id = $1").equality) == ["s.accounts.id"]
    assert names(columns_by_role("DELETE FROM logs WHERE created_at < now()").range) == ["logs.created_at"]


def test_bad_sql_is_an_input_error() -> None:
    with pytest.raises(InputError):
        columns_by_role("SELEC 1")
    with pytest.raises(InputError):
        columns_by_role("SELECT 1; SELECT 2")


def test_a_simple_sub_select_is_seen_through_like_the_planner_pulls_it_up() -> None:
    q = columns_by_role(
        "SELECT v.uid, created FROM (SELECT e.user_id AS uid, e.created_at AS created, e.kind FROM events e "
        "WHERE e.kind = 'click') v WHERE v.uid = $1 AND created > $2 ORDER BY created DESC LIMIT 10"
    )
    inner = next(b.number for b in q.blocks if b.tables)
    uses = {(str(u.column), u.role, u.block) for u in q.uses}
    # the outer filters and sort land on the base table, in the block that reads it
    assert ("events.user_id", Role.EQUALITY, inner) in uses
    assert ("events.created_at", Role.RANGE, inner) in uses
    assert ("events.created_at", Role.ORDER_BY, inner) in uses
    assert ("events.kind", Role.EQUALITY, inner) in uses
    found = {n: (str(column), operator) for n, (column, operator) in q.parameters.items()}
    assert found == {1: ("events.user_id", "="), 2: ("events.created_at", ">")}


def test_column_aliases_of_a_sub_select_rename_its_outputs() -> None:
    q = columns_by_role(
        "SELECT * FROM (SELECT o.customer_id, o.total FROM orders o) AS s(cid, amount) WHERE cid = $1"
    )
    assert names(q.equality) == ["orders.customer_id"]


def test_an_aggregating_sub_select_is_not_seen_through() -> None:
    # a filter on an aggregate's output cannot reach the table (HAVING-like): no use of orders.customer_id
    # comes from the outer WHERE
    q = columns_by_role(
        "SELECT * FROM (SELECT customer_id AS cid, sum(total) AS spent FROM orders GROUP BY customer_id) s "
        "WHERE s.spent > $1"
    )
    assert names(q.range) == []
    assert names(q.group_by) == ["orders.customer_id"]
    assert q.parameters == {}


def test_a_star_sub_select_passes_its_tables_columns_through() -> None:
    catalog = {"orders": ["id", "customer_id", "total"]}
    q = columns_by_role("SELECT s.id FROM (SELECT * FROM orders) s WHERE s.customer_id = $1", catalog)
    assert names(q.equality) == ["orders.customer_id"]
    # a column the table does not have is not invented
    q = columns_by_role("SELECT 1 FROM (SELECT * FROM orders) s WHERE s.nope = $1", catalog)
    assert names(q.equality) == []
