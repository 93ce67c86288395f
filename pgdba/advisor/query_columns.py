"""Which table columns one query uses, and how: equality filter, range filter, join key, ORDER BY, GROUP BY.

Works on PostgreSQL's own parse tree (pglast), never on the SQL text. Normalised statements from
pg_stat_statements (`$1` parameters) parse like any other query.

    >>> q = columns_by_role("SELECT * FROM orders o WHERE o.status = $1 AND o.total > $2 ORDER BY o.id")
    >>> [str(c) for c in q.equality], [str(c) for c in q.range], [str(c) for c in q.order_by]
    (['orders.status'], ['orders.total'], ['orders.id'])

Unqualified columns are attributed when the query block reads a single table; with several tables, pass
`catalog` (relation name as written in the query → its column names) so each column finds its table.
Columns of CTEs, sub-selects in FROM and functions are not table columns and are left out.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

import pglast
from pglast import ast
from pglast.enums import A_Expr_Kind, BoolExprType, NullTestType, SortByDir, SQLValueFunctionOp, SubLinkType
from pglast.stream import RawStream

from pgdba.advisor.parse_tree import children, column_name, walk
from pgdba.errors import InputError


class Role(StrEnum):
    """How a query uses a column; the order is the order btree keys want them in."""

    EQUALITY = "equality"
    RANGE = "range"
    JOIN = "join"
    ORDER_BY = "order_by"
    GROUP_BY = "group_by"


@dataclass(frozen=True, order=True)
class TableColumn:
    """A column of a base table; `schema` is None when the query did not qualify the table. `function`: the
    query uses the column inside one of KEY_FUNCTIONS (`lower(email) = $1`, `created_at::date = $1`), which
    only an index on that expression serves. `cast`: the query casts the column to one of TEXT_CASTS
    (Prisma's `"email"::text LIKE $1`), which an index on the column serves only on a text or varchar
    column (pgdba.advisor.candidates checks the type); it is not part of the column's identity."""

    table: str
    column: str
    schema: str | None = None
    function: str = ""
    cast: str = field(default="", compare=False)

    @property
    def relation(self) -> str:
        """The table as the query named it: `schema.table` or `table`."""
        return f"{self.schema}.{self.table}" if self.schema else self.table

    def __str__(self) -> str:
        text = f"{self.relation}.{self.column}"
        return f"{self.function}({text})" if self.function else text


@dataclass(frozen=True)
class ColumnUse:
    """One use of a column in one query block.

    operator: the SQL operator for filters and joins (`=`, `<`, `BETWEEN`, `IN`, `IS NULL`), else None.
    constant: the literal compared with (as SQL text), when the other side is a literal constant.
    conjunctive: False when the predicate sits under OR / NOT (an index serves it less reliably).
    descending: for ORDER BY. block: the query block (SELECT level) it belongs to, 0 = outermost.
    position: its place within the ORDER BY / GROUP BY list of its block.
    """

    column: TableColumn
    role: Role
    operator: str | None = None
    constant: str | None = None
    conjunctive: bool = True
    descending: bool = False
    block: int = 0
    position: int = 0


@dataclass(frozen=True)
class SearchUse:
    """A search no btree serves (`col ILIKE '%abc%'`, `col LIKE '%' || $1 || '%'`, `col ~* $1`): a trigram
    (pg_trgm GIN) index on the column does (pgdba.advisor.trigram).

    operator: "ILIKE", "LIKE", "~" or "~*". pattern: the literal pattern as SQL text, None for `$n` or an
    expression. ambiguous: `col LIKE $n`, which serves both `abc%` (a btree prefix) and `%abc%` (a search),
    depending on what the application sends.
    """

    column: TableColumn
    operator: str
    pattern: str | None = None
    ambiguous: bool = False
    conjunctive: bool = True
    block: int = 0


@dataclass(frozen=True)
class QueryBlock:
    """One SELECT level (or the UPDATE/DELETE itself): its tables and whether it has a LIMIT."""

    number: int
    tables: tuple[TableColumn, ...]  # column is "" — only the relation matters
    has_limit: bool


@dataclass(frozen=True)
class ClockOffset:
    """A `$n` that a column is compared with through the clock (`at > now() - $1`): the column, the
    comparison (as `parameters` has it), the clock as SQL (`now()`, `CURRENT_DATE`, …) and the sign."""

    column: TableColumn
    operator: str
    clock: str
    sign: str  # "-": clock - $n; "+": clock + $n


@dataclass
class QueryColumns:
    """Every column use of one statement, by role."""

    uses: list[ColumnUse] = field(default_factory=list)
    blocks: list[QueryBlock] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)
    # every table column a SELECT block reads anywhere (select list, aggregates, …): covering candidates
    referenced: dict[int, list[TableColumn]] = field(default_factory=dict)
    statement: str = ""  # the parse node of the statement: SelectStmt, UpdateStmt, CreateStmt, …
    # `$n` → the column it is compared with and how (`=`, `<`, `>=`, `IN`, …): lets a caller bind sample values
    parameters: dict[int, tuple[TableColumn, str]] = field(default_factory=dict)
    # `$n` → how a column is compared with it through the clock (`at > now() - $n`)
    clock_offsets: dict[int, ClockOffset] = field(default_factory=dict)
    # `$n` → the column an UPDATE assigns it to (`SET status = $1`)
    assigned: dict[int, TableColumn] = field(default_factory=dict)
    # searches a trigram index serves, kept apart from `uses` (which btree candidates are built from)
    searches: list[SearchUse] = field(default_factory=list)

    def columns(self, role: Role) -> list[TableColumn]:
        """Distinct columns used in this role, in query order."""
        return _distinct(use.column for use in self.uses if use.role is role)

    @property
    def equality(self) -> list[TableColumn]:
        return self.columns(Role.EQUALITY)

    @property
    def range(self) -> list[TableColumn]:
        return self.columns(Role.RANGE)

    @property
    def join(self) -> list[TableColumn]:
        return self.columns(Role.JOIN)

    @property
    def order_by(self) -> list[TableColumn]:
        return self.columns(Role.ORDER_BY)

    @property
    def group_by(self) -> list[TableColumn]:
        return self.columns(Role.GROUP_BY)

    @property
    def tables(self) -> list[str]:
        """Every base table the statement reads or changes, as the query named them."""
        return list(dict.fromkeys(t.relation for block in self.blocks for t in block.tables))

    def for_table(self, relation: str) -> list[ColumnUse]:
        """The uses on one table (`schema.table` or `table`, as the query named it)."""
        return [use for use in self.uses if use.column.relation == relation]

    def to_dict(self) -> dict[str, list[str]]:
        found = {role.value: [str(c) for c in self.columns(role)] for role in Role}
        found["search"] = [str(c) for c in _distinct(s.column for s in self.searches)]
        return found


def columns_by_role(sql: str, catalog: Mapping[str, Collection[str]] | None = None) -> QueryColumns:
    """Parse one statement and return the table columns it uses, by role.

    sql: one SQL statement (literal or normalised with `$n` parameters).
    catalog: optional relation name (as written in the query, `schema.table` or `table`) → column names,
      used to attribute unqualified columns in multi-table blocks; without it those land in `unresolved`.
    Raises InputError when the text does not parse or holds more than one statement.
    """
    try:
        statements = pglast.parse_sql(sql)
    except pglast.parser.ParseError as exc:
        raise InputError(f"cannot parse query: {exc}") from None
    if len(statements) != 1:
        raise InputError(f"expected one SQL statement, got {len(statements)}")
    walker = _Walker(catalog or {})
    walker.result.statement = type(statements[0].stmt).__name__
    walker.statement(statements[0].stmt)
    return walker.result


def _distinct(columns: Iterable[TableColumn]) -> list[TableColumn]:
    return list(dict.fromkeys(columns))


_RANGE_OPERATORS = {"<", ">", "<=", ">="}
# functions of one column a query filters or sorts on that an expression index serves (the case-insensitive
# lookup `lower(email) = $1`), each with what it does to a value (pgdba.advisor.sampling applies it to a
# sampled constant); pgdba.advisor.candidates builds keys `lower("email")` for them
KEY_FUNCTIONS: dict[str, Callable[[str], str]] = {
    "lower": str.lower,
    "upper": str.upper,
    # `date(created_at)` ≡ `created_at::date`; immutable (indexable) only on timestamp and date columns
    "date": lambda value: value.replace("T", " ").split(" ", 1)[0],
}
# the casts a query may write around a column and still mean the column itself, where it is text or varchar
# (a varchar cast to text is only relabelled; `::varchar(n)` would cut values, so only the bare type counts)
TEXT_CASTS = frozenset({"text", "varchar"})
# casts that are one of KEY_FUNCTIONS: `created_at::date` is `date(created_at)` to the planner
CAST_KEY_FUNCTIONS = frozenset({"date"})


def key_function_name(call: ast.FuncCall) -> str | None:
    """The name of one of KEY_FUNCTIONS a plain call of one argument makes (`lower(x)`, `pg_catalog.upper(x)`;
    not an aggregate or window call), else None. The argument is the caller's to read."""
    names = [str(n.sval) for n in call.funcname or () if isinstance(n, ast.String)]
    plain = not (call.agg_star or call.agg_distinct or call.over or call.agg_filter or call.agg_order)
    if not plain or len(call.args or ()) != 1 or not names or names[-1] not in KEY_FUNCTIONS:
        return None
    return names[-1] if names[:-1] in ([], ["pg_catalog"]) else None


def cast_type_name(cast: ast.TypeCast) -> str | None:
    """The built-in type a cast names, when it is a bare name (`::date`, `::pg_catalog.varchar`; not
    `::varchar(10)` or an array), else None."""
    type_name = cast.typeName
    if type_name is None or type_name.typmods or type_name.arrayBounds or type_name.setof:
        return None
    names = [str(n.sval) for n in type_name.names or () if isinstance(n, ast.String)]
    return names[-1] if names and names[:-1] in ([], ["pg_catalog"]) else None


@dataclass
class _Scope:
    """The names visible in one query block: alias or table name → the base table (None = not a table)."""

    number: int
    names: dict[str, TableColumn | None]
    parent: _Scope | None
    ctes: frozenset[str]
    # simple sub-selects in FROM (a view's body, once expanded): alias → output column → base table column;
    # the planner pulls such a sub-select up into this block, so their blocks count as this one's
    derived: dict[str, dict[str, TableColumn]] = field(default_factory=dict)
    pulled: list[_Scope] = field(default_factory=list)

    def lookup(self, qualifier: str) -> tuple[TableColumn | None, bool]:
        """(table, found) for a qualifier, searching outer blocks for correlated references."""
        scope: _Scope | None = self
        while scope is not None:
            if qualifier in scope.names:
                return scope.names[qualifier], True
            scope = scope.parent
        return None, False

    def derived_column(self, qualifier: str, column: str) -> TableColumn | None:
        scope: _Scope | None = self
        while scope is not None:
            if qualifier in scope.names:
                return scope.derived.get(qualifier, {}).get(column)
            scope = scope.parent
        return None

    def home_block(self, column: TableColumn) -> int:
        """The block whose FROM holds the column's table: this one, or a sub-select pulled up into it."""
        if any(t is not None and t.relation == column.relation for t in self.names.values()):
            return self.number
        for inner in self.pulled:
            if any(t is not None and t.relation == column.relation for t in inner.names.values()):
                return inner.home_block(column)
        return self.number


class _Walker:
    def __init__(self, catalog: Mapping[str, Collection[str]]) -> None:
        self.catalog = {name: set(cols) for name, cols in catalog.items()}
        self.result = QueryColumns()
        self._blocks = 0

    # statements ----------------------------------------------------------------------------------------
    def statement(self, node: Any) -> None:
        if isinstance(node, ast.SelectStmt):
            self.select(node, None, frozenset())
        elif isinstance(node, ast.UpdateStmt | ast.DeleteStmt):
            self.modify(node)
        elif isinstance(node, ast.InsertStmt) and node.selectStmt is not None:
            self.select(node.selectStmt, None, self._cte_names(node.withClause, frozenset()))
        elif isinstance(node, ast.ExplainStmt):
            self.statement(node.query)

    def modify(self, node: Any) -> None:
        ctes = self._cte_names(node.withClause, frozenset())
        scope = self._new_scope(None, ctes)
        modified = self._add_range_var(node.relation, scope)
        extra = node.fromClause if isinstance(node, ast.UpdateStmt) else node.usingClause
        for item in extra or ():
            self._from_item(item, scope)
        self._register_block(scope, has_limit=False)
        self._cte_bodies(node.withClause, None, ctes)
        self.predicate(node.whereClause, scope, conjunctive=True)
        if isinstance(node, ast.UpdateStmt) and modified is not None:
            self._assignments(node, modified)

    def _assignments(self, node: Any, table: TableColumn) -> None:
        """Remember the column of `table` each `SET column = $n` (possibly cast) assigns its parameter to."""
        for target in node.targetList or ():
            if not isinstance(target, ast.ResTarget) or target.indirection or not target.name:
                continue  # `SET a[1] = …`
            value = target.val
            if isinstance(value, ast.MultiAssignRef):  # `SET (a, b) = ($1, $2)`: one per column, by position
                row = value.source.args if isinstance(value.source, ast.RowExpr) else None
                position = value.colno or 0
                value = row[position - 1] if row and 0 < position <= len(row) else None
            number = _parameter_number(value)
            if number:
                self.result.assigned.setdefault(number, replace(table, column=str(target.name)))

    def select(self, node: Any, parent: _Scope | None, outer_ctes: frozenset[str]) -> _Scope | None:
        """Walk one SELECT; returns its name scope (None for UNION / INTERSECT / EXCEPT)."""
        ctes = self._cte_names(node.withClause, outer_ctes)
        self._cte_bodies(node.withClause, parent, ctes)
        if node.larg is not None or node.rarg is not None:
            for arm in (node.larg, node.rarg):
                if arm is not None:
                    self.select(arm, parent, ctes)
            return None
        scope = self._new_scope(parent, ctes)
        for item in node.fromClause or ():
            self._from_item(item, scope)
        self._register_block(scope, has_limit=node.limitCount is not None)
        self.predicate(node.whereClause, scope, conjunctive=True)
        self.predicate(node.havingClause, scope, conjunctive=True)
        parts = (node.targetList, node.whereClause, node.havingClause, node.groupClause, node.sortClause)
        joins = [item for item in node.fromClause or () if isinstance(item, ast.JoinExpr)]
        refs = list(_block_column_refs([*parts, *joins]))
        if not any(isinstance(f, ast.A_Star) for ref in refs for f in ref.fields or ()):  # `*` reads all
            referenced = (self._column_quiet(ref, scope) for ref in refs)
            self.result.referenced[scope.number] = _distinct(c for c in referenced if c is not None)
        targets: dict[object, Any] = {}
        for position, target in enumerate(node.targetList or (), start=1):
            if isinstance(target, ast.ResTarget):
                self.nested(target.val, scope)
                targets[position] = target.val
                if target.name:
                    targets[target.name] = target.val
        for position, item in enumerate(node.groupClause or ()):
            expr = self._output_reference(item, targets)
            column = self._column(expr, scope)
            if column is not None:
                self._use(column, Role.GROUP_BY, scope, position=position)
        for position, sort in enumerate(node.sortClause or ()):
            if not isinstance(sort, ast.SortBy):
                continue
            expr = self._output_reference(sort.node, targets)
            column = self._column(expr, scope)
            if column is not None:
                descending = sort.sortby_dir == SortByDir.SORTBY_DESC
                self._use(column, Role.ORDER_BY, scope, descending=descending, position=position)
        return scope

    def _output_reference(self, expr: Any, targets: Mapping[object, Any]) -> Any:
        """ORDER BY 2 / ORDER BY alias refer to the select list."""
        if isinstance(expr, ast.A_Const) and isinstance(expr.val, ast.Integer):
            return targets.get(expr.val.ival, expr)
        fields: tuple[Any, ...] = getattr(expr, "fields", None) or ()
        if isinstance(expr, ast.ColumnRef) and len(fields) == 1 and isinstance(fields[0], ast.String):
            target = targets.get(fields[0].sval)
            if isinstance(target, ast.ColumnRef):
                return target
        return expr

    # FROM ------------------------------------------------------------------------------------------------
    def _cte_names(self, with_clause: Any, outer: frozenset[str]) -> frozenset[str]:
        if with_clause is None:
            return outer
        return outer | {
            str(cte.ctename) for cte in with_clause.ctes or () if isinstance(cte, ast.CommonTableExpr)
        }

    def _cte_bodies(self, with_clause: Any, parent: _Scope | None, ctes: frozenset[str]) -> None:
        for cte in (with_clause.ctes or ()) if with_clause else ():
            if isinstance(cte, ast.CommonTableExpr) and isinstance(cte.ctequery, ast.Node):
                if isinstance(cte.ctequery, ast.SelectStmt):
                    self.select(cte.ctequery, parent, ctes)
                else:
                    self.statement(cte.ctequery)

    def _new_scope(self, parent: _Scope | None, ctes: frozenset[str]) -> _Scope:
        scope = _Scope(self._blocks, {}, parent, ctes)
        self._blocks += 1
        return scope

    def _register_block(self, scope: _Scope, *, has_limit: bool) -> None:
        tables = tuple(dict.fromkeys(t for t in scope.names.values() if t is not None))
        self.result.blocks.append(QueryBlock(scope.number, tables, has_limit))

    def _add_range_var(self, node: Any, scope: _Scope) -> TableColumn | None:
        alias = node.alias.aliasname if node.alias else None
        if node.schemaname is None and node.relname in scope.ctes:
            scope.names[alias or node.relname] = None
            return None
        table = TableColumn(node.relname, "", node.schemaname)
        scope.names[alias or node.relname] = table
        if alias is None and node.schemaname:
            scope.names[f"{node.schemaname}.{node.relname}"] = table
        return table

    def _from_item(self, item: Any, scope: _Scope) -> list[TableColumn | None]:
        """Register a FROM item; returns the tables it brings (None for non-table items)."""
        if isinstance(item, ast.RangeVar):
            return [self._add_range_var(item, scope)]
        if isinstance(item, ast.JoinExpr):
            left = self._from_item(item.larg, scope)
            right = self._from_item(item.rarg, scope)
            for name in item.usingClause or ():
                if isinstance(name, ast.String):
                    self._using_key(str(name.sval), left, scope)
                    self._using_key(str(name.sval), right, scope)
            self.predicate(item.quals, scope, conjunctive=True)
            return left + right
        if isinstance(item, ast.RangeSubselect):
            lateral_parent = scope if item.lateral else scope.parent
            inner = None
            if isinstance(item.subquery, ast.SelectStmt):
                inner = self.select(item.subquery, lateral_parent, scope.ctes)
            if item.alias is not None:
                alias = str(item.alias.aliasname)
                scope.names[alias] = None
                if inner is not None and _pulls_up(item.subquery):
                    scope.derived[alias] = self._outputs(item.subquery, item.alias, inner)
                    scope.pulled.append(inner)
            return [None]
        if isinstance(item, ast.RangeFunction) and item.alias is not None:
            scope.names[str(item.alias.aliasname)] = None
        return [None]

    def _outputs(self, subquery: Any, alias: Any, inner: _Scope) -> dict[str, TableColumn]:
        """A sub-select's output columns that are plain base-table columns, by the name outside sees."""
        renamed = [str(n.sval) for n in alias.colnames or () if isinstance(n, ast.String)]
        outputs: dict[str, TableColumn] = {}
        tables = list(dict.fromkeys(t for t in inner.names.values() if t is not None))
        if _is_star(subquery.targetList) and len(tables) == 1 and not renamed:
            # `(SELECT * FROM t) s`: every column of the one table, by its own name
            table = tables[0]
            return {
                c: TableColumn(table.table, c, table.schema) for c in self.catalog.get(table.relation, ())
            }
        for position, target in enumerate(subquery.targetList or ()):
            if not isinstance(target, ast.ResTarget) or not isinstance(target.val, ast.ColumnRef):
                continue
            name = target.name or column_name(target.val)
            if position < len(renamed):
                name = renamed[position]
            column = self._column_quiet(target.val, inner)
            if name is not None and column is not None:
                outputs[name] = column
        return outputs

    def _using_key(self, column: str, side: list[TableColumn | None], scope: _Scope) -> None:
        tables = [t for t in side if t is not None]
        if len(tables) == 1:
            owner = tables[0]
        else:
            owners = [t for t in tables if column in self.catalog.get(t.relation, ())]
            if len(owners) != 1:
                self.result.unresolved.append(column)
                return
            owner = owners[0]
        self._use(TableColumn(owner.table, column, owner.schema), Role.JOIN, scope, operator="=")

    # expressions -----------------------------------------------------------------------------------------
    def predicate(self, node: object, scope: _Scope, *, conjunctive: bool) -> None:
        """Classify the comparisons of a WHERE / ON / HAVING expression."""
        if node is None:
            return
        if isinstance(node, ast.BoolExpr):
            inner = conjunctive and node.boolop == BoolExprType.AND_EXPR
            for arg in node.args or ():
                self.predicate(arg, scope, conjunctive=inner)
            return
        if isinstance(node, ast.A_Expr):
            self._comparison(node, scope, conjunctive)
            return
        if isinstance(node, ast.NullTest):
            column = self._column(node.arg, scope)
            if column is not None and node.nulltesttype == NullTestType.IS_NULL:
                self._use(column, Role.EQUALITY, scope, operator="IS NULL", conjunctive=conjunctive)
            return
        if isinstance(node, ast.SubLink):
            self._sublink(node, scope, conjunctive)
            return
        self.nested(node, scope)

    def _comparison(self, node: Any, scope: _Scope, conjunctive: bool) -> None:
        name = node.name[-1].sval if node.name and isinstance(node.name[-1], ast.String) else ""
        kind = node.kind
        if kind == A_Expr_Kind.AEXPR_OP and (name == "=" or name in _RANGE_OPERATORS):
            left = self._column(node.lexpr, scope)
            right = self._column(node.rexpr, scope)
            if left is not None and right is not None:
                crosses = left.relation != right.relation or not self._same_block(node, scope)
                if crosses and name == "=":
                    self._use(left, Role.JOIN, scope, operator="=", conjunctive=conjunctive)
                    self._use(right, Role.JOIN, scope, operator="=", conjunctive=conjunctive)
                return
            column, other = (left, node.rexpr) if left is not None else (right, node.lexpr)
            if column is not None and isinstance(other, ast.ColumnRef):
                # the other side is a column of a CTE or sub-select: still a join on this table's column
                if name == "=":
                    self._use(column, Role.JOIN, scope, operator="=", conjunctive=conjunctive)
                return
            if column is not None and not self._references_table(other, column, scope):
                role = Role.EQUALITY if name == "=" else Role.RANGE
                # `$1 < col` compares col the other way round
                operator = name if column is left else _MIRRORED.get(name, name)
                self._use(
                    column, role, scope, operator=name, constant=_literal(other), conjunctive=conjunctive
                )
                self._parameters([other], column, operator)
            self.nested(other, scope)
            return
        if kind in (A_Expr_Kind.AEXPR_IN, A_Expr_Kind.AEXPR_OP_ANY) and name == "=":
            column = self._column(node.lexpr, scope)
            if column is not None:
                operator = "IN" if kind == A_Expr_Kind.AEXPR_IN else "= ANY"
                self._use(column, Role.EQUALITY, scope, operator=operator, conjunctive=conjunctive)
                if kind == A_Expr_Kind.AEXPR_IN and isinstance(node.rexpr, list | tuple):
                    self._parameters(node.rexpr, column, "IN")
                elif kind == A_Expr_Kind.AEXPR_OP_ANY:
                    self._parameters([node.rexpr], column, "= ANY")  # `col = ANY($1)`: an array
            self.nested(node.rexpr, scope)
            return
        if kind == A_Expr_Kind.AEXPR_LIKE and name == "~~":
            self._like(node, scope, conjunctive)
            return
        search = _SEARCH_OPERATORS.get((kind, str(name)))
        if search is not None:
            self._search(node, scope, conjunctive, search)
            self.nested(node.rexpr, scope)
            return
        if kind == A_Expr_Kind.AEXPR_BETWEEN:
            column = self._column(node.lexpr, scope)
            if column is not None:
                self._use(column, Role.RANGE, scope, operator="BETWEEN", conjunctive=conjunctive)
                if isinstance(node.rexpr, list | tuple) and len(node.rexpr) == 2:
                    self._parameters(node.rexpr[:1], column, ">=")
                    self._parameters(node.rexpr[1:], column, "<=")
            self.nested(node.rexpr, scope)
            return
        self.nested(node, scope)

    def _like(self, node: Any, scope: _Scope, conjunctive: bool) -> None:
        """`col LIKE 'abc%'` (a pattern with a fixed start) or `col LIKE $n`: a btree serves it as the range
        of values that start with the prefix (on a non-C collation only with a `*_pattern_ops` key)."""
        column = self._column(node.lexpr, scope)
        pattern = node.rexpr.arg if isinstance(node.rexpr, ast.TypeCast) else node.rexpr
        if column is not None and (isinstance(pattern, ast.ParamRef) or like_prefix(_literal(pattern))):
            self._use(
                column,
                Role.RANGE,
                scope,
                operator="LIKE",
                constant=_literal(pattern),
                conjunctive=conjunctive,
            )
            self._parameters([node.rexpr], column, "LIKE")
        self._search(node, scope, conjunctive, "LIKE")
        self.nested(node.rexpr, scope)

    def _search(self, node: Any, scope: _Scope, conjunctive: bool, operator: str) -> None:
        """Record a search a trigram index serves (SearchUse): `col ILIKE x` and `col ~ x` / `col ~* x` for
        any pattern, `col LIKE x` when x starts with a wildcard (a literal, or a concatenation whose first
        piece is one) or is a `$n` (ambiguous); the column plain or cast to text / varchar. A literal pattern
        with no run of TRIGRAM_MIN_RUN plain characters is left out: pg_trgm extracts no trigram from it."""
        column = self._search_column(node.lexpr, scope)
        pattern = _search_pattern(node.rexpr)
        pieces = [_search_pattern(piece) for piece in _concatenated(pattern)]
        if column is None or any(True for _ in _column_refs(pattern)):
            return
        literal = _literal(pattern)
        ambiguous = operator == "LIKE" and isinstance(pattern, ast.ParamRef)
        if operator == "LIKE" and not ambiguous and not _starts_with_wildcard(pieces[0]):
            return
        if (
            operator in ("LIKE", "ILIKE")
            and literal is not None
            and _longest_plain_run(literal) < TRIGRAM_MIN_RUN
        ):
            return
        block = scope.home_block(column)
        self.result.searches.append(SearchUse(column, operator, literal, ambiguous, conjunctive, block))
        if isinstance(pattern, ast.ParamRef):
            self._parameters([pattern], column, operator)  # (`LIKE $n` keeps the btree's "LIKE": a prefix)
        elif len(pieces) > 1:
            self._parameters(pieces, column, f"{operator} part")

    def _search_column(self, node: object, scope: _Scope) -> TableColumn | None:
        """The table column searched, also through a `::text` / `::varchar` cast (Prisma adds one) or inside
        one of SEARCH_KEY_FUNCTIONS (`lower(title)`, Django's `UPPER("title"::text)`: a trigram index on that
        expression serves it); not one inside another function (`created_at::date`)."""
        column = self._column_quiet(node, scope)
        if column is None or column.function not in ("", *SEARCH_KEY_FUNCTIONS):
            return None
        return column

    def _same_block(self, node: Any, scope: _Scope) -> bool:
        """Both sides resolve in this block (not a correlation with an outer block)."""
        for side in (node.lexpr, node.rexpr):
            if isinstance(side, ast.ColumnRef) and len(side.fields or ()) >= 2:
                qualifier = _qualifier(side)
                if qualifier not in scope.names:
                    return False
        return True

    def _sublink(self, node: Any, scope: _Scope, conjunctive: bool) -> None:
        subselect = node.subselect
        if not isinstance(subselect, ast.SelectStmt):
            return
        inner_scope = self.select(subselect, scope, scope.ctes)
        if node.subLinkType == SubLinkType.ANY_SUBLINK and node.testexpr is not None:
            # `col IN (SELECT other FROM …)` is a semi-join on col = other
            outer = self._column(node.testexpr, scope)
            if outer is not None:
                self._use(outer, Role.JOIN, scope, operator="=", conjunctive=conjunctive)
            targets = subselect.targetList or ()
            if inner_scope is not None and targets and isinstance(targets[0], ast.ResTarget):
                inner = self._column(targets[0].val, inner_scope)
                if inner is not None:
                    self._use(inner, Role.JOIN, inner_scope, operator="=", conjunctive=conjunctive)

    def nested(self, node: object, scope: _Scope) -> None:
        """Find sub-selects inside any expression (scalar sub-queries, EXISTS, CASE …)."""
        for sublink in _sublinks(node):
            self._sublink(sublink, scope, conjunctive=True)

    # columns ---------------------------------------------------------------------------------------------
    def _column(self, node: object, scope: _Scope) -> TableColumn | None:
        """The base-table column a bare column reference names (or one of KEY_FUNCTIONS applied to it:
        `lower(email)`, `created_at::date`; or cast to one of TEXT_CASTS: `email::text`), or None."""
        if isinstance(node, ast.FuncCall):
            return self._key_function(node, scope)
        if isinstance(node, ast.TypeCast):
            return self._cast_column(node, scope)
        if not isinstance(node, ast.ColumnRef):
            return None
        fields = node.fields or ()
        if not fields or not all(isinstance(f, ast.String) for f in fields):
            return None  # `t.*`
        names = [str(f.sval) for f in fields]
        column = names[-1]
        if len(names) >= 2:
            qualifier = ".".join(names[:-1])
            table, found = scope.lookup(qualifier)
            if not found:
                self.result.unresolved.append(".".join(names))
            if table is None and found:
                return scope.derived_column(qualifier, column)
            return TableColumn(table.table, column, table.schema) if table else None
        return self._unqualified(column, scope)

    def _key_function(self, node: ast.FuncCall, scope: _Scope) -> TableColumn | None:
        """`lower(col)` / `upper(col)` (plain calls, the column unqualified or qualified): the column, marked
        with the function."""
        function = key_function_name(node)
        column = self._column(node.args[0], scope) if function and node.args else None
        if function is None or column is None or column.function:
            return None
        return replace(column, function=function)

    def _cast_column(self, node: ast.TypeCast, scope: _Scope) -> TableColumn | None:
        """`col::text` / `col::varchar` (the column, marked with the cast) or `col::date` (the column through
        `date`); a cast of anything but a plain column reference is None."""
        type_name = cast_type_name(node)
        if type_name is None or not isinstance(node.arg, ast.ColumnRef):
            return None
        column = self._column(node.arg, scope)
        if column is None:
            return None
        if type_name in TEXT_CASTS:
            return replace(column, cast=type_name)
        return replace(column, function=type_name) if type_name in CAST_KEY_FUNCTIONS else None

    def _unqualified(self, column: str, scope: _Scope) -> TableColumn | None:
        current: _Scope | None = scope
        while current is not None:
            tables = list(dict.fromkeys(t for t in current.names.values() if t is not None))
            derived = [outputs[column] for outputs in current.derived.values() if column in outputs]
            if not self.catalog:
                # without a catalog only a block reading exactly one table (and nothing else) is certain,
                # or one whose only FROM item is a sub-select that outputs the column
                if len(tables) == 1 and None not in current.names.values():
                    return TableColumn(tables[0].table, column, tables[0].schema)
                if not tables and len(current.names) == 1 and len(derived) == 1:
                    return derived[0]
                break
            owners = [
                TableColumn(t.table, column, t.schema)
                for t in tables
                if column in self.catalog.get(t.relation, ())
            ]
            owners += derived
            if len(owners) == 1:
                return owners[0]
            if owners:
                break  # ambiguous
            current = current.parent  # not a column here: a correlated reference to an outer block
        self.result.unresolved.append(column)
        return None

    def _references_table(self, node: object, column: TableColumn, scope: _Scope) -> bool:
        """Does the other side of a comparison read the same table (then it is no index condition)?"""
        for ref in _column_refs(node):
            other = self._column_quiet(ref, scope)
            if other is not None and other.relation == column.relation:
                return True
        return False

    def _column_quiet(self, node: Any, scope: _Scope) -> TableColumn | None:
        unresolved = len(self.result.unresolved)
        column = self._column(node, scope)
        del self.result.unresolved[unresolved:]
        return column

    def _use(
        self,
        column: TableColumn,
        role: Role,
        scope: _Scope,
        *,
        operator: str | None = None,
        constant: str | None = None,
        conjunctive: bool = True,
        descending: bool = False,
        position: int = 0,
    ) -> None:
        block = scope.home_block(column)
        self.result.uses.append(
            ColumnUse(column, role, operator, constant, conjunctive, descending, block, position)
        )

    def _parameters(self, values: Iterable[object], column: TableColumn, operator: str) -> None:
        """Remember which column each `$n` (possibly cast) among `values` is compared with, directly or
        through the clock (`now() - $n`)."""
        for value in values:
            number = _parameter_number(value) or _parameter_through(column.function, value)
            if number:
                self.result.parameters.setdefault(number, (column, operator))
                continue
            offset = _clock_offset(value)
            if offset is not None:
                number, clock, sign = offset
                self.result.clock_offsets.setdefault(number, ClockOffset(column, operator, clock, sign))


def _parameter_number(value: object) -> int | None:
    """n of `$n`, possibly cast, more than once: Prisma compares an enum column with
    `CAST($1::text AS "Status")`."""
    while isinstance(value, ast.TypeCast):
        value = value.arg
    return value.number if isinstance(value, ast.ParamRef) and value.number else None


def _parameter_through(function: str, value: object) -> int | None:
    """n of `lower($n)` where the column is compared through the same one of KEY_FUNCTIONS (`lower(email) =
    lower($1)`, the usual case-insensitive lookup): each of them is idempotent, so a value of the column
    through the function is a value for `$n` too."""
    if not function or not isinstance(value, ast.FuncCall) or key_function_name(value) != function:
        return None
    return _parameter_number(value.args[0]) if value.args else None


# the clocks a column is compared against as `clock - $n` / `clock + $n`, as SQL
_CLOCK_FUNCTIONS = {
    name: f"{name}()" for name in ("now", "statement_timestamp", "transaction_timestamp", "clock_timestamp")
}
_CLOCK_VALUES = {
    SQLValueFunctionOp.SVFOP_CURRENT_DATE: "CURRENT_DATE",
    SQLValueFunctionOp.SVFOP_CURRENT_TIMESTAMP: "CURRENT_TIMESTAMP",
    SQLValueFunctionOp.SVFOP_CURRENT_TIMESTAMP_N: "CURRENT_TIMESTAMP",
    SQLValueFunctionOp.SVFOP_LOCALTIMESTAMP: "LOCALTIMESTAMP",
    SQLValueFunctionOp.SVFOP_LOCALTIMESTAMP_N: "LOCALTIMESTAMP",
}


def _clock_offset(value: object) -> tuple[int, str, str] | None:
    """(n, clock, sign) of `clock - $n` or `clock + $n` (`$n` possibly cast), else None."""
    if not isinstance(value, ast.A_Expr) or value.kind != A_Expr_Kind.AEXPR_OP or not value.name:
        return None
    sign = value.name[-1].sval if isinstance(value.name[-1], ast.String) else ""
    number = _parameter_number(value.rexpr)
    if sign not in ("-", "+") or not number:
        return None
    clock = value.lexpr
    if isinstance(clock, ast.SQLValueFunction) and clock.op in _CLOCK_VALUES:
        return number, _CLOCK_VALUES[clock.op], sign
    if isinstance(clock, ast.FuncCall) and not clock.args and clock.funcname:
        name = clock.funcname[-1].sval if isinstance(clock.funcname[-1], ast.String) else None
        if name is not None and name in _CLOCK_FUNCTIONS:
            return number, _CLOCK_FUNCTIONS[name], sign
    return None


_MIRRORED = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}
# (expression kind, operator) → the SearchUse operator; negations (NOT ILIKE, !~) no index serves
_SEARCH_OPERATORS = {
    (A_Expr_Kind.AEXPR_ILIKE, "~~*"): "ILIKE",
    (A_Expr_Kind.AEXPR_OP, "~"): "~",
    (A_Expr_Kind.AEXPR_OP, "~*"): "~*",
}
# pg_trgm narrows a LIKE / ILIKE search only by a run of at least three plain characters (one trigram)
TRIGRAM_MIN_RUN = 3
# the case-folding functions a search may apply to the column and to its pattern (`lower(title) LIKE
# lower($1)`): a trigram index on `lower(title)` serves it
SEARCH_KEY_FUNCTIONS = frozenset({"lower", "upper"})


def _search_pattern(node: object) -> object:
    """A search's pattern without the case folding around it (`lower($1)`, `UPPER('%abc%')`) or a cast
    (`$1::text`): what the application sends."""
    inner = node.arg if isinstance(node, ast.TypeCast) else node
    if isinstance(inner, ast.FuncCall) and key_function_name(inner) in SEARCH_KEY_FUNCTIONS and inner.args:
        (argument,) = inner.args
        inner = argument.arg if isinstance(argument, ast.TypeCast) else argument
    return inner


def _concatenated(node: object) -> list[object]:
    """The pieces of `a || b || c` or `concat(a, b, c)`, in order; [node] for anything else."""
    if isinstance(node, ast.A_Expr) and node.kind == A_Expr_Kind.AEXPR_OP:
        name = node.name[-1].sval if node.name and isinstance(node.name[-1], ast.String) else ""
        if name == "||" and node.lexpr is not None:
            return [*_concatenated(node.lexpr), *_concatenated(node.rexpr)]
    if isinstance(node, ast.FuncCall) and node.args:
        names = [str(n.sval) for n in node.funcname or () if isinstance(n, ast.String)]
        if names and names[-1] == "concat" and names[:-1] in ([], ["pg_catalog"]):
            return [piece for arg in node.args for piece in _concatenated(arg)]
    return [node]


def _starts_with_wildcard(node: object) -> bool:
    """A string literal (possibly cast) whose first character is a LIKE wildcard (`%` or `_`)."""
    text = _literal(node)
    return text is not None and len(text) >= 3 and text[0] == "'" and text[1] in "%_"


def _longest_plain_run(constant: str) -> int:
    """The longest run of characters between LIKE wildcards in a string literal (`'%ab%cde%'` → 3); a
    number for anything that is not a string literal (it is no pattern to judge)."""
    if not (len(constant) >= 2 and constant[0] == constant[-1] == "'"):
        return TRIGRAM_MIN_RUN
    longest = current = 0
    escaped = False
    for char in constant[1:-1].replace("''", "'"):
        if not escaped and char == "\\":
            escaped = True
            continue
        if not escaped and char in "%_":
            current = 0
        else:
            current += 1
            longest = max(longest, current)
        escaped = False
    return longest


def like_prefix(constant: str | None) -> str:
    """The fixed start of a LIKE pattern written as a literal (`'abc%'` → `abc`; "" when it starts with a
    wildcard, or for anything that is not a string literal)."""
    if constant is None or not (len(constant) >= 2 and constant[0] == constant[-1] == "'"):
        return ""
    text = constant[1:-1].replace("''", "'")
    prefix: list[str] = []
    escaped = False
    for char in text:
        if escaped:
            prefix.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char in "%_":
            break
        else:
            prefix.append(char)
    return "".join(prefix)


def _is_star(targets: Any) -> bool:
    """A select list that is just `*` (or `t.*`)."""
    if not targets or len(targets) != 1 or not isinstance(targets[0], ast.ResTarget):
        return False
    value = targets[0].val
    return isinstance(value, ast.ColumnRef) and any(isinstance(f, ast.A_Star) for f in value.fields or ())


def _pulls_up(select: Any) -> bool:
    """A sub-select the planner merges into the query around it (as it does with a simple view): no
    grouping, aggregates over it, DISTINCT, LIMIT/OFFSET, set operation or locking clause."""
    return (
        isinstance(select, ast.SelectStmt)
        and select.larg is None
        and not select.groupClause
        and select.havingClause is None
        and not select.distinctClause
        and select.limitCount is None
        and select.limitOffset is None
        and not select.lockingClause
        and not select.windowClause
        and not any(_has_aggregate_or_window(t) for t in select.targetList or ())
    )


def _has_aggregate_or_window(node: object) -> bool:
    # an aggregate inside a scalar sub-query belongs to that sub-query: SubLinks are not entered
    for current in walk(node, skip=(ast.SubLink,)):
        if isinstance(current, ast.FuncCall):
            if current.over is not None or current.agg_star or current.agg_distinct:
                return True
            name = (
                current.funcname[-1].sval
                if current.funcname and isinstance(current.funcname[-1], ast.String)
                else ""
            )
            if name in _AGGREGATES:
                return True
    return False


# aggregates that make a sub-select's output one row per group (a user-defined aggregate is not known here;
# such a sub-select would be treated as if pulled up, which only adds candidates the what-if plans judge)
_AGGREGATES = frozenset(
    {
        "count",
        "sum",
        "avg",
        "min",
        "max",
        "array_agg",
        "string_agg",
        "bool_and",
        "bool_or",
        "every",
        "json_agg",
        "jsonb_agg",
        "json_object_agg",
        "jsonb_object_agg",
        "stddev",
        "variance",
        "bit_and",
        "bit_or",
        "percentile_cont",
        "percentile_disc",
        "mode",
    }
)


def _qualifier(node: Any) -> str:
    return ".".join(str(f.sval) for f in (node.fields or ())[:-1] if isinstance(f, ast.String))


def _literal(node: object) -> str | None:
    """SQL text of a literal constant (possibly cast), else None (parameters and expressions)."""
    inner = node.arg if isinstance(node, ast.TypeCast) else node
    if isinstance(inner, ast.A_Const) and not inner.isnull:
        return str(RawStream()(node))  # type: ignore[arg-type]
    return None


def _sublinks(node: object) -> Iterator[Any]:
    """SubLinks reachable without entering another sub-select."""
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, ast.SubLink):
            yield current
            continue
        stack.extend(children(current))


def _column_refs(node: object) -> Iterator[Any]:
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, ast.ColumnRef):
            yield current
        elif not isinstance(current, ast.SubLink):
            stack.extend(children(current))


def _block_column_refs(node: object) -> Iterator[ast.ColumnRef]:
    """Column references of one query block: not inside sub-selects (they have their own scope)."""
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, ast.ColumnRef):
            yield current
        elif isinstance(current, ast.JoinExpr):
            stack.extend([current.quals, current.larg, current.rarg])
        elif not isinstance(current, ast.SubLink | ast.SelectStmt | ast.RangeSubselect | ast.RangeVar):
            stack.extend(children(current))
