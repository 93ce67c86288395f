"""HypoPG what-if costing: the planner's cost of a query with a given set of hypothetical indexes.

Normalised `$n` queries are costed with their generic plan: `EXPLAIN (GENERIC_PLAN)` on PostgreSQL 16+,
else PREPARE + `plan_cache_mode = force_generic_plan` + EXPLAIN EXECUTE with NULLs, prepared afresh each
time because a cached plan does not notice new hypothetical indexes. A `$n` PostgreSQL cannot type from the
text alone (`ts >= LOCALTIMESTAMP - $1`: an untyped `$1` makes that timestamp - timestamp = interval) is
declared as the first of a few common types that lets the query prepare, found once per query
(DeclaredTypes); parameters PostgreSQL can only type together (`ts >= $1 - $2`) are declared together
(declarable_types). (Where the generic plan misleads, the
advisor hands in the query with constants sampled from pg_stats instead: pgdba.advisor.sampling.) Results
are cached per (query, hypothetical indexes on the query's tables). HypoPG 1.4+ takes real OIDs; older
versions have a fake-OID range of ~2 800 indexes alive at once, which dropped indexes give back: a
configuration larger than that is refused after one reset, with a clear message.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pglast
import psycopg
from pglast import ast
from psycopg import sql
from psycopg.abc import AdaptContext, Buffer
from psycopg.adapt import Loader
from psycopg.types.string import StrDumper

from pgdba.advisor.candidates import Candidate
from pgdba.advisor.parse_tree import walk
from pgdba.errors import NotAvailable
from pgdba.stats.partitions import inheritance_trees

_STATEMENT = "pgdba_whatif"

# where HypoPG is installed: its functions are called by their schema's name, so HypoPG in a schema off the
# search_path (Supabase's `extensions`) is found, and one the role may not use is said to be that
HYPOPG_SCHEMA_SQL = """
SELECT n.nspname AS schema, has_schema_privilege(n.oid, 'USAGE') AS usable
  FROM pg_extension AS e
  JOIN pg_namespace AS n ON n.oid = e.extnamespace
 WHERE e.extname = 'hypopg'
"""

HYPOPG_REAL_OIDS_SQL = """
SELECT string_to_array(split_part(extversion, '-', 1), '.')::int[] >= '{1,4}'
  FROM pg_extension
 WHERE extname = 'hypopg'
"""

# a partitioned table is costed with one hypothetical index per leaf partition: beyond this many (by
# default; AdvisorOptions.max_partitions), what-if planning gets slow (measured here: a generic plan of a
# one-table query took about 0.5 s with one candidate's 365 hypothetical indexes, 10-30 ms without them) and
# HypoPG < 1.4 runs out of its ~2 800 fake OIDs
MAX_WHATIF_PARTITIONS = 100


class _OidRangeExhausted(Exception):
    """HypoPG's fake-OID range is full even with only the configuration being costed."""

    def __init__(self, count: int) -> None:
        super().__init__(count)
        self.count = count


# HypoPG names a hypothetical index itself (`<oid>btree_<table>_<column>`), cut at 63 bytes even inside a
# character: the name, and the plans that show it, are read with lenient_cursor
# (several at once: a partitioned table's candidate, one per leaf partition, in one round trip)
HYPOPG_CREATE_SQL = """
SELECT h.indexrelid, h.indexname
  FROM unnest(%s::text[]) WITH ORDINALITY AS d(ddl, n),
       LATERAL {hypopg}.hypopg_create_index(d.ddl) AS h
 ORDER BY d.n
"""
HYPOPG_DROP_ALL_SQL = "SELECT {hypopg}.hypopg_drop_index(oid) FROM unnest(%s::oid[]) AS oid"
HYPOPG_RESET_SQL = "SELECT {hypopg}.hypopg_reset()"
HYPOPG_LIST_SQL = "SELECT indexrelid FROM {hypopg}.hypopg()"
HYPOPG_SIZE_SQL = "SELECT {hypopg}.hypopg_relation_size(%s)"


class _LenientTextLoader(Loader):
    """Text in the connection's encoding, a byte sequence invalid in it read as U+FFFD instead of failing."""

    def __init__(self, oid: int, context: AdaptContext | None = None) -> None:
        super().__init__(oid, context)
        self._encoding = self.connection.info.encoding if self.connection is not None else "utf-8"

    def load(self, data: Buffer) -> str:
        return bytes(data).decode(self._encoding, errors="replace")


class _LenientJsonLoader(_LenientTextLoader):
    def load(self, data: Buffer) -> Any:
        return json.loads(super().load(data))


def lenient_cursor(conn: psycopg.Connection, *, raw: bool = False) -> psycopg.Cursor[Any]:
    """A cursor that reads text and JSON leniently (_LenientTextLoader): a hypothetical index's name, and a
    plan that names it, decode to the same text, so the plan's index maps back to its candidate. raw: the
    query's own `$n` are its placeholders (psycopg.RawCursor), and a `%` in it is just a `%`."""
    cursor = psycopg.RawCursor(conn) if raw else conn.cursor()
    cursor.adapters.register_loader("text", _LenientTextLoader)
    cursor.adapters.register_loader("json", _LenientJsonLoader)
    return cursor


class _Text(str):
    """A value sent as `text` (psycopg sends a plain str as `unknown`, for the server to type by its place)."""


def explain_with_values(
    conn: psycopg.Connection,
    options: str,
    query: str,
    values: Sequence[str],
    parameter_types: Sequence[str] | None = None,
) -> dict[str, Any]:
    """EXPLAIN (`options`) of a `$n` query with each `$n` bound to its value as a parameter, the way an
    application's driver sends one: the planner plans for the values (a custom plan, as for literals), and
    pg_stat_statements, which records the text as sent, never sees them. (A value written into the text as
    a literal is recorded verbatim on PostgreSQL 14 and 15: a sampled or observed value — application data
    — would be left there for every reader of pg_stat_statements.)

    Each value goes as `unknown`, typed by its place as a quoted literal is, or as the type
    `parameter_types` declares for it (DeclaredTypes: `now() - $1` is an interval); one its place leaves
    untyped (`SELECT $1`), which PostgreSQL refuses for a parameter, goes as `text`, what such a literal
    reads as.
    """
    cursor = lenient_cursor(conn, raw=True)  # the plan may name a hypothetical index
    cursor.adapters.register_dumper(_Text, StrDumper)
    # a workload statement, parsed and checked beforehand
    statement = sql.SQL("EXPLAIN ({}) {}").format(
        sql.SQL(options), sql.SQL(_declared(query, parameter_types))
    )
    as_text: set[int] = set()
    while True:
        params = [_Text(v) if n in as_text else v for n, v in enumerate(values, start=1)]
        try:
            with contextlib.nullcontext() if conn.autocommit else conn.transaction():
                row = cursor.execute(statement, params, prepare=False).fetchone()
        except psycopg.errors.IndeterminateDatatype as exc:
            untyped = _indeterminate_parameter(exc)
            if untyped is None or untyped in as_text or not 1 <= untyped <= len(values):
                raise
            as_text.add(untyped)
            continue
        return _plan_document(row)


def _plan_document(row: tuple[Any, ...] | None) -> dict[str, Any]:
    """The plan of an EXPLAIN (FORMAT JSON) row: the first element of its JSON document (psycopg hands it
    over parsed, or as text from a raw cursor)."""
    assert row is not None
    document = row[0] if not isinstance(row[0], str) else json.loads(row[0])
    return dict(document[0])


def _declared(query: str, parameter_types: Sequence[str] | None) -> str:
    """The query with each `$n` a type is declared for written `CAST($n AS type)`."""
    if not parameter_types or all(name == "unknown" for name in parameter_types):
        return query
    pieces: list[str] = []
    last = 0
    for token in pglast.parser.scan(query):  # character offsets, `end` inclusive
        if token.name != "PARAM":
            continue
        number = int(query[token.start + 1 : token.end + 1])
        if number <= len(parameter_types) and parameter_types[number - 1] != "unknown":
            param = query[token.start : token.end + 1]
            pieces += [query[last : token.start], f"CAST({param} AS {parameter_types[number - 1]})"]
            last = token.end + 1
    pieces.append(query[last:])
    return "".join(pieces)


def _indeterminate_parameter(exc: psycopg.Error) -> int | None:
    """N of PostgreSQL's `could not determine data type of parameter $N`."""
    found = re.search(r"parameter \$(\d+)", exc.diag.message_primary or "")
    return int(found.group(1)) if found else None


LEAF_PARTITIONS_SQL = """
SELECT n.nspname,
       c.relname
  FROM pg_partition_tree(%s::regclass) t
  JOIN pg_class c ON c.oid = t.relid
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE t.isleaf
   AND c.relkind <> 'f'  -- CREATE INDEX on the table leaves out a foreign-table partition (it has no index)
 ORDER BY n.nspname, c.relname
"""


@dataclass(frozen=True)
class CostedPlan:
    """Total planner cost and the names of the indexes the plan uses."""

    cost: float
    indexes: frozenset[str]


@dataclass
class WhatIfStats:
    calls: int = 0
    cache_hits: int = 0
    resets: int = 0


# The types tried, in order, for a `$n` PostgreSQL cannot type from the query (undefined or ambiguous
# operator): interval first, the type of `now() - $1`, `CURRENT_DATE + $1` and the like.
DECLARABLE_TYPES = ("interval", "text", "numeric", "bigint", "timestamp", "timestamptz", "date", "boolean")
# at most this many PREPAREs per query to find them (see declarable_types)
MAX_TYPE_ATTEMPTS = 64
UNTYPED_PARAMETER_ERRORS = (psycopg.errors.UndefinedFunction, psycopg.errors.AmbiguousFunction)
_TYPES_STATEMENT = "pgdba_types"


@dataclass
class DeclaredTypes:
    """Parameter types declared for the queries PostgreSQL cannot type on its own, found once per query.

    found: query text → the type of each `$n` in order ("unknown": left for PostgreSQL to infer).
    untypable: queries no declared parameter types found within MAX_TYPE_ATTEMPTS make valid.
    attempts: PREPAREs tried so far.
    """

    found: dict[str, tuple[str, ...]] = field(default_factory=dict)
    untypable: set[str] = field(default_factory=set)
    attempts: int = 0

    def described(self, query: str) -> str:
        """`$1 as interval` for each declared parameter of a query."""
        return ", ".join(
            f"${n} as {name}" for n, name in enumerate(self.found[query], start=1) if name != "unknown"
        )


@dataclass
class WhatIfSession:
    """One HypoPG session on a read-only connection."""

    conn: psycopg.Connection
    server_version_num: int
    stats: WhatIfStats = field(default_factory=WhatIfStats)
    # candidate → its hypothetical indexes (one per leaf partition on a partitioned table): (oid, name)
    _present: dict[Candidate, list[tuple[int, str]]] = field(default_factory=dict)
    _cache: dict[tuple[int, frozenset[Candidate]], CostedPlan] = field(default_factory=dict)
    _sizes: dict[Candidate, int] = field(default_factory=dict)
    _ddls: dict[Candidate, list[str]] = field(default_factory=dict)  # its hypothetical indexes' CREATE INDEX
    rejected: set[Candidate] = field(default_factory=set)
    real_oids: bool = False
    # why candidates were not costed (a partitioned table with too many partitions): for the advice's notes
    notes: list[str] = field(default_factory=list)
    _leaves: dict[tuple[str, str], list[tuple[str, str]]] = field(default_factory=dict)
    types: DeclaredTypes = field(default_factory=DeclaredTypes)
    # a partitioned table with more leaf partitions is not costed (MAX_WHATIF_PARTITIONS)
    max_partitions: int = MAX_WHATIF_PARTITIONS
    # HypoPG's statements, each calling its functions in the schema it is installed in
    _sql: dict[str, sql.Composed] = field(default_factory=dict)

    def __post_init__(self) -> None:
        row = self.conn.execute(HYPOPG_SCHEMA_SQL).fetchone()
        if row is None:
            raise NotAvailable("HypoPG is not installed in this database (CREATE EXTENSION hypopg)")
        schema, usable = row
        if not usable:
            raise NotAvailable(
                f"HypoPG is installed in schema {schema}, which this role may not use "
                f"(GRANT USAGE ON SCHEMA {sql.Identifier(schema).as_string(self.conn)} TO the role)"
            )
        self._sql = {
            name: sql.SQL(template).format(hypopg=sql.Identifier(schema))
            for name, template in (
                ("create", HYPOPG_CREATE_SQL),
                ("drop", HYPOPG_DROP_ALL_SQL),
                ("reset", HYPOPG_RESET_SQL),
                ("list", HYPOPG_LIST_SQL),
                ("size", HYPOPG_SIZE_SQL),
            )
        }
        self.conn.execute(self._sql["reset"])
        # HypoPG 1.4+ can take real OIDs; older ones have a fake range of ~2 800 (see _create). Older versions
        # accept the SET as a meaningless placeholder, so ask for the version first.
        # (in a savepoint: an unreadable version string must not abort a caller's transaction)
        with contextlib.suppress(psycopg.Error), self.conn.transaction():
            row = self.conn.execute(HYPOPG_REAL_OIDS_SQL).fetchone()
            if row and row[0]:
                self.conn.execute("SET hypopg.use_real_oids = on")
                self.real_oids = True

    @property
    def hypothetical_names(self) -> dict[str, Candidate]:
        return {name: candidate for candidate, made in self._present.items() for _, name in made}

    def close(self) -> None:
        self._drop_all()

    # configuration ---------------------------------------------------------------------------------------
    def _drop_all(self) -> None:
        self.conn.execute(self._sql["reset"])
        self._present.clear()

    def _configure(self, config: frozenset[Candidate]) -> None:
        dropped = [
            oid for c in [c for c in self._present if c not in config] for oid, _ in self._present.pop(c)
        ]
        if dropped:
            self.conn.execute(self._sql["drop"], (dropped,))
        for candidate in sorted(c for c in config if c not in self.rejected):
            if candidate not in self._present:  # (a reset below may have created it already)
                self._add(candidate, config)

    def _add(self, candidate: Candidate, config: frozenset[Candidate]) -> None:
        if (candidate.partitioned or candidate.inherited) and len(
            self._leaf_partitions(candidate)
        ) > self.max_partitions:
            self._reject_partitioned(
                candidate,
                f"more than {self.max_partitions} partitions; --max-partitions costs more, each what-if plan "
                "slower",
            )
            return
        try:
            self._present[candidate] = self._create(candidate, config)
        except (psycopg.errors.DataException, psycopg.errors.SyntaxErrorOrAccessRuleViolation):
            # HypoPG refuses this definition (e.g. an unsupported column type): never propose it
            self.rejected.add(candidate)
        except _OidRangeExhausted as exc:
            if not (candidate.partitioned or candidate.inherited):
                raise NotAvailable(
                    f"{exc.count} hypothetical indexes at once exceed HypoPG's OID range "
                    "(HypoPG 1.4+ with hypopg.use_real_oids has no such limit)"
                ) from None
            # one per partition: this candidate alone takes too many; the others are still advised
            self._reject_partitioned(candidate, "its hypothetical indexes exceed HypoPG's OID range")

    def _reject_partitioned(self, candidate: Candidate, why: str) -> None:
        self.rejected.add(candidate)
        kind, each = (
            ("table with inheritance children", "table")
            if candidate.inherited
            else ("partitioned table", "partition")
        )
        note = f"{candidate.relation}: {kind} not costed ({why}: one hypothetical index per {each})"
        if note not in self.notes:
            self.notes.append(note)

    def _create(self, candidate: Candidate, config: frozenset[Candidate]) -> list[tuple[int, str]]:
        try:
            return self._hypopg_create(candidate)
        except psycopg.errors.InternalError as exc:
            if "oid" not in str(exc):
                raise
        # HypoPG's fake-OID range is exhausted: start over with only this configuration
        self.stats.resets += 1
        self._drop_all()
        try:
            for other in sorted(c for c in config if c != candidate and c not in self.rejected):
                with contextlib.suppress(
                    psycopg.errors.DataException, psycopg.errors.SyntaxErrorOrAccessRuleViolation
                ):
                    self._present[other] = self._hypopg_create(other)
            return self._hypopg_create(candidate)
        except psycopg.errors.InternalError as exc:
            if "oid" not in str(exc):
                raise
            count = sum(self.hypothetical_count(c) for c in config)
            raise _OidRangeExhausted(count) from None

    def _hypopg_create(self, candidate: Candidate) -> list[tuple[int, str]]:
        """The candidate's hypothetical index; on a partitioned table one per leaf partition, as CREATE INDEX
        on the parent builds (HypoPG plans one on the parent itself for only some partitions), all in one
        round trip. HypoPG's indexes are no transaction's: when one fails, those made before it are dropped
        again (none of a half-made candidate stays behind)."""
        if candidate not in self._ddls:  # (a greedy creates and drops a candidate many times)
            targets: list[tuple[str, str] | None] = [None]
            if candidate.partitioned or candidate.inherited:
                targets = list(self._leaf_partitions(candidate))
            self._ddls[candidate] = [
                candidate.ddl(concurrently=False, named=False, on=t).as_string(self.conn) for t in targets
            ]
        ddls = self._ddls[candidate]
        try:
            rows = lenient_cursor(self.conn).execute(self._sql["create"], (ddls,)).fetchall()
        except psycopg.Error:
            known = {oid for made in self._present.values() for oid, _ in made}
            with contextlib.suppress(psycopg.Error):
                strays = [oid for (oid,) in self.conn.execute(self._sql["list"]) if oid not in known]
                if strays:
                    self.conn.execute(self._sql["drop"], (strays,))
            raise
        return [(int(oid), str(name)) for oid, name in rows]

    def hypothetical_count(self, candidate: Candidate) -> int:
        """How many hypothetical indexes the candidate takes: one per leaf partition on a partitioned table,
        one per table of the hierarchy on a table with inheritance children."""
        spread = candidate.partitioned or candidate.inherited
        return len(self._leaf_partitions(candidate)) if spread else 1

    def _leaf_partitions(self, candidate: Candidate) -> list[tuple[str, str]]:
        """(schema, table) of each leaf partition of the candidate's partitioned table (of its table and
        each inheritance child, on a table that has them), read once."""
        key = (candidate.schema, candidate.table)
        if key not in self._leaves:
            if candidate.inherited:  # the table itself holds rows too
                children = inheritance_trees(self.conn, key).get(key, [])
                self._leaves[key] = [key, *((c.schema, c.name) for c in children if c.kind == "r")]
            else:
                parent = sql.Identifier(*key).as_string(self.conn)
                rows = self.conn.execute(LEAF_PARTITIONS_SQL, (parent,)).fetchall()
                self._leaves[key] = [(str(schema), str(name)) for schema, name in rows]
        return self._leaves[key]

    # costing ---------------------------------------------------------------------------------------------
    def cost(
        self,
        number: int,
        query: str,
        param_count: int,
        config: Iterable[Candidate],
        values: Sequence[str] | None = None,
    ) -> CostedPlan:
        """Cost of query `number` (text `query`, its `$n` bound to `values` if given) with exactly the
        hypothetical indexes `config`."""
        key = (number, frozenset(config))
        cached = self._cache.get(key)
        if cached is not None:
            self.stats.cache_hits += 1
            return cached
        self._configure(key[1])
        plan = self.explain(query, param_count, values)
        self.stats.calls += 1
        names = self.hypothetical_names
        used = frozenset(names[n].name() if n in names else n for n in _index_names(plan))
        result = CostedPlan(float(plan["Plan"]["Total Cost"]), used)
        self._cache[key] = result
        return result

    def explain(self, query: str, param_count: int, values: Sequence[str] | None = None) -> dict[str, Any]:
        """The plan (JSON) of one query with the hypothetical indexes now present: its generic plan, or the
        plan for `values` bound to its `$n` when they are given (explain_with_values)."""
        if values is not None:
            return explain_with_values(self.conn, "FORMAT JSON", query, values, self.types.found.get(query))
        return explain_typed(self.conn, self.server_version_num, query, param_count, self.types)

    def plan_cost(
        self, query: str, param_count: int, config: Iterable[Candidate], values: Sequence[str] | None = None
    ) -> float:
        """Uncached cost of a query text with exactly the hypothetical indexes `config` (for comparing two
        ways of costing one query before choosing one)."""
        self._configure(frozenset(config))
        self.stats.calls += 1
        return float(self.explain(query, param_count, values)["Plan"]["Total Cost"])

    def hypopg_size(self, candidate: Candidate) -> int:
        """HypoPG's size estimate (bytes) of a candidate, the figure the research platform budgets with."""
        if candidate not in self._sizes:
            self._configure(frozenset(self._present) | {candidate})
            if candidate not in self._present:
                return 2**62  # rejected by HypoPG: no budget fits it
            self._sizes[candidate] = sum(
                self._hypopg_relation_size(oid) for oid, _ in self._present[candidate]
            )
        return self._sizes[candidate]

    def _hypopg_relation_size(self, oid: int) -> int:
        row = self.conn.execute(self._sql["size"], (oid,)).fetchone()
        assert row is not None
        return int(row[0])


def explain_typed(
    conn: psycopg.Connection, server_version_num: int, query: str, param_count: int, types: DeclaredTypes
) -> dict[str, Any]:
    """explain_generic, with the parameter types `types` holds or finds for a query PostgreSQL cannot type
    on its own; the original error when none are found."""
    declared = types.found.get(query)
    try:
        return explain_generic(conn, server_version_num, query, param_count, declared)
    except UNTYPED_PARAMETER_ERRORS:
        if declared is not None or param_count == 0 or query in types.untypable:
            raise
        found = declarable_types(conn, query, param_count, types)
        if found is None:
            types.untypable.add(query)
            raise
        types.found[query] = found
    return explain_generic(conn, server_version_num, query, param_count, found)


def declarable_types(
    conn: psycopg.Connection, query: str, param_count: int, types: DeclaredTypes
) -> tuple[str, ...] | None:
    """The parameter types (each `$n` one of DECLARABLE_TYPES or "unknown") with which PostgreSQL prepares
    the query, found in at most MAX_TYPE_ATTEMPTS PREPAREs; None when none is found.

    PostgreSQL stops at the first operator it cannot resolve and says where (the error's position): only
    the `$n` under that operator can resolve it, and they may have to be declared together (`ts >= $1 - $2`
    takes a timestamp and an interval; either one alone leaves `ts >= interval`). So the search tries
    declarations of those parameters only, fewest declared first, then the leftmost, then in
    DECLARABLE_TYPES order, the other parameters as declared so far. The first that prepares is the answer;
    the first whose error moves to an operator over none of those parameters is kept, and the search goes
    on with the parameters under the new one (`ts >= LOCALTIMESTAMP - $1 AND ts < LOCALTIMESTAMP - $2`:
    three PREPAREs). A single parameter is the failing one without asking; an error PostgreSQL does not
    place puts every parameter under it.
    """
    tree = _parse_tree(query)
    every = frozenset(range(1, param_count + 1))
    attempts = 0

    def failing(parameter_types: tuple[str, ...]) -> frozenset[int] | None:
        """The parameters under the operator PostgreSQL fails at with these types; None: it prepares."""
        nonlocal attempts
        attempts += 1
        types.attempts += 1
        offset = _prepare_failure(conn, query, parameter_types)
        if offset is None:
            return None
        return (_parameters_at(tree, offset) & every) or every

    declared = ("unknown",) * param_count
    stuck = every
    if param_count > 1:
        first = failing(declared)
        if first is None:
            return declared
        stuck = first
    while True:
        moved_on: tuple[tuple[str, ...], frozenset[int]] | None = None
        for declaration in _declarations(sorted(stuck)):
            if attempts == MAX_TYPE_ATTEMPTS:
                return None
            candidate = tuple(
                declaration.get(n, "unknown" if n in stuck else declared[n - 1])
                for n in range(1, param_count + 1)
            )
            now_stuck = failing(candidate)
            if now_stuck is None:
                return candidate
            if not now_stuck & stuck:
                moved_on = candidate, now_stuck
                break
        if moved_on is None:
            return None
        declared, stuck = moved_on


def _declarations(parameters: Sequence[int]) -> Iterator[dict[int, str]]:
    """Types for some of the parameters (`$n` number → type name): one parameter declared, then two, …;
    leftmost parameters first; each in DECLARABLE_TYPES order."""
    for size in range(1, len(parameters) + 1):
        for chosen in itertools.combinations(parameters, size):
            for names in itertools.product(DECLARABLE_TYPES, repeat=size):
                yield dict(zip(chosen, names, strict=True))


def _parse_tree(query: str) -> tuple[ast.Node, ...]:
    """The query's parse tree; empty if pglast cannot parse it (the search then places no error)."""
    try:
        return tuple(pglast.parse_sql(query))
    except pglast.parser.ParseError:
        return ()


def _parameters_at(tree: tuple[ast.Node, ...], offset: int) -> frozenset[int]:
    """The `$n` numbers under the nodes starting at character `offset` of the query (the operator, function
    or BETWEEN an error points at)."""
    return frozenset(
        parameter.number
        for node in walk(list(tree))
        if getattr(node, "location", None) == offset
        for parameter in walk(node)
        if isinstance(parameter, ast.ParamRef) and parameter.number is not None
    )


def _prepare_failure(conn: psycopg.Connection, query: str, parameter_types: tuple[str, ...]) -> int | None:
    """Where PostgreSQL stops parsing and typing the query with these parameter types: a character offset
    into the query, -1 when it does not say; None when the query prepares. (Nothing is planned or run.)"""
    statement = sql.Identifier(_TYPES_STATEMENT)
    text = (
        sql.SQL("PREPARE {} ({}) AS {}")
        .format(statement, sql.SQL(", ").join(map(sql.SQL, parameter_types)), sql.SQL(query))
        .as_string(conn)
    )
    try:
        with conn.transaction():  # a savepoint: a failed PREPARE must not abort a caller's transaction
            conn.execute(text)
            conn.execute(sql.SQL("DEALLOCATE {}").format(statement))
    except psycopg.Error as exc:
        position = exc.diag.statement_position  # 1-based, in characters of the whole statement
        return -1 if position is None else int(position) - 1 - (len(text) - len(query))
    return None


def explain_generic(
    conn: psycopg.Connection,
    server_version_num: int,
    query: str,
    param_count: int,
    parameter_types: tuple[str, ...] | None = None,
) -> dict[str, Any]:
    """EXPLAIN (FORMAT JSON) of a query's generic plan; `$n` parameters need no values. `parameter_types`:
    the type of each `$n` (names from DECLARABLE_TYPES or "unknown"), declared with PREPARE."""
    text = sql.SQL(query)  # a workload statement, parsed and checked beforehand
    if param_count == 0 or (server_version_num >= 160000 and parameter_types is None):
        options = sql.SQL("FORMAT JSON" if param_count == 0 else "GENERIC_PLAN, FORMAT JSON")
        statement = sql.SQL("EXPLAIN ({}) {}").format(options, text)
        row = lenient_cursor(conn).execute(statement).fetchone()  # the plan may name a hypothetical index
        return _plan_document(row)
    plan = _explain_prepared(conn, text, param_count, parameter_types)
    if any("Subplans Removed" in node for node in _nodes(plan)):
        # EXECUTE with NULLs prunes, as the executor starts, every partition a `$n` compares the partition
        # key with: the plan no longer names the indexes it would scan there. Planned again without run-time
        # pruning for those names (the cost stays the generic plan's)
        conn.execute(sql.SQL("SET enable_partition_pruning = off"))
        try:
            unpruned = _explain_prepared(conn, text, param_count, parameter_types)
        finally:
            conn.execute(sql.SQL("RESET enable_partition_pruning"))
        plan["Plan"][PRUNED_INDEX_NAMES] = sorted(set(_index_names(unpruned)))
    return plan


# the key explain_generic adds to a plan with partitions pruned at executor start: the indexes the plan scans
# in them
PRUNED_INDEX_NAMES = "pgdba: Index Names In Pruned Partitions"


def _explain_prepared(
    conn: psycopg.Connection, text: sql.SQL, param_count: int, parameter_types: tuple[str, ...] | None
) -> dict[str, Any]:
    """EXPLAIN (FORMAT JSON) EXECUTE of the query PREPAREd (its parameters of `parameter_types`) under
    plan_cache_mode = force_generic_plan, with NULL for each parameter."""
    declared: sql.Composable = sql.SQL("")
    if parameter_types is not None:
        declared = sql.SQL(" ({})").format(sql.SQL(", ").join(map(sql.SQL, parameter_types)))
    conn.execute(sql.SQL("SET plan_cache_mode = force_generic_plan"))
    conn.execute(sql.SQL("PREPARE {}{} AS {}").format(sql.Identifier(_STATEMENT), declared, text))
    try:
        nulls = sql.SQL(", ").join([sql.NULL] * param_count)
        statement = sql.SQL("EXPLAIN (FORMAT JSON) EXECUTE {}({})").format(sql.Identifier(_STATEMENT), nulls)
        row = lenient_cursor(conn).execute(statement).fetchone()  # the plan may name a hypothetical index
    finally:
        conn.execute(sql.SQL("DEALLOCATE {}").format(sql.Identifier(_STATEMENT)))
    return _plan_document(row)


def plan_index_names(plan: dict[str, Any]) -> frozenset[str]:
    """Names of the indexes a plan scans."""
    return frozenset(_index_names(plan))


def _index_names(plan: dict[str, Any]) -> Iterator[str]:
    for node in _nodes(plan):
        if "Index Name" in node:
            yield str(node["Index Name"])
        yield from node.get(PRUNED_INDEX_NAMES, ())


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every node of a plan (EXPLAIN FORMAT JSON)."""
    stack: list[Any] = [plan.get("Plan", plan)]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(node.get("Plans", ()))
