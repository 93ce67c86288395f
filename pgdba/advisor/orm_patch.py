"""Advised indexes as a patch for the user's ORM schema: Prisma `@@index([...])`, Drizzle `index().on(...)`.

Table and column names are mapped back to the ORM's model and field names (Prisma `@@map` / `@map`,
Drizzle `pgTable("table", { field: type("column") })`). Index names follow PostgreSQL's default
`table_col_idx`, which is also Prisma's default, so Prisma needs no `map:` argument. The Drizzle file is
read with tree-sitter's TypeScript grammar; the Prisma file with a small block reader (its grammar is
line-oriented: `model X {`, one field or `@@attribute` per line, `}`). A partial index becomes Drizzle's
`.where(sql`…`)` (Prisma has no partial indexes); INCLUDE columns have no ORM form and stay in the SQL.
A fillfactor becomes Drizzle's `.with({ fillfactor: N })`; Prisma cannot set one, so its `@@index` builds
the same index with PostgreSQL's default fillfactor. A trigram search index (pgdba.advisor.trigram) becomes
Prisma's `@@index([title(ops: raw("gin_trgm_ops"))], type: Gin)` and Drizzle's
`index("name").using("gin", t.title.op("gin_trgm_ops"))`.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from psycopg import sql

from pgdba.advisor.candidates import NULL_TESTS, Candidate
from pgdba.advisor.trigram import OPCLASS, SearchIndexAdvice
from pgdba.errors import InputError
from pgdba.schema.prisma_syntax import parse_prisma
from pgdba.text_files import read_text_file
from pgdba.units import format_bytes


@dataclass
class OrmPatch:
    """The new schema text, its unified diff, and the indexes that could not be expressed."""

    path: str
    new_text: str
    diff: str
    unmapped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what the user must do besides applying the patch


# Prisma creates a GIN trigram index only once pg_trgm exists; it manages the extension itself only with
# the preview feature (the datasource is the user's to edit: the patch leaves it alone)
PRISMA_TRIGRAM_NOTE = (
    "the trigram index needs pg_trgm: for Prisma to create it, add previewFeatures = "
    '["postgresqlExtensions"] to the generator and extensions = [pg_trgm] to the datasource (or CREATE '
    "EXTENSION pg_trgm in the database first)"
)
DRIZZLE_TRIGRAM_NOTE = (
    "the trigram index needs pg_trgm: CREATE EXTENSION IF NOT EXISTS pg_trgm before the migration "
    "(drizzle-kit does not manage extensions)"
)
# The ORMs' migrations create an index with a plain CREATE INDEX, which blocks writes to the table until it is
# built: on a table this large (or a partitioned one, where it blocks every partition) the patch's note says to
# build it with pgdba's SQL first. (drizzle-kit writes CONCURRENTLY for `.concurrently()`, but drizzle's
# migrator runs every migration in one transaction, where PostgreSQL refuses it.)
MIGRATION_LOCK_MIN_TABLE_BYTES = 100 * 1024 * 1024
MIGRATION_LOCK_FOLLOW_UP = {
    "prisma": "then create the migration with `prisma migrate dev --create-only` and mark it applied with "
    "`prisma migrate resolve --applied <migration>`",
    "drizzle": "then take that CREATE INDEX out of the migration drizzle-kit generates (its snapshot keeps the "
    "index)",
}


def migration_lock_note(
    kind: str, patched: Sequence[Candidate], table_bytes: Mapping[str, int]
) -> str | None:
    """The note for the patched indexes whose migration would block writes to a large or partitioned table
    (`table_bytes`: schema.table → its size), None when there are none."""
    blocked = {
        c.relation: ("partitioned, " if c.partitioned else "") + format_bytes(table_bytes.get(c.relation, 0))
        for c in patched
        if c.partitioned or table_bytes.get(c.relation, 0) >= MIGRATION_LOCK_MIN_TABLE_BYTES
    }
    if not blocked:
        return None
    tables = ", ".join(f"{relation} ({size})" for relation, size in sorted(blocked.items()))
    orm = "Prisma Migrate" if kind == "prisma" else "drizzle-kit's migration"
    return (
        f"{orm} creates an index with a plain CREATE INDEX, which blocks writes to the table until it is "
        f"built: on {tables} run the SQL first (it builds without blocking writes), "
        f"{MIGRATION_LOCK_FOLLOW_UP[kind]}"
    )


def inheritance_patch_note(kind: str, patched: Sequence[Candidate]) -> str | None:
    """The note for patched indexes on tables with inheritance children: the ORM's migration creates the index
    on the table only, and a query of it scans the children too. None when there are none."""
    tables = sorted({c.relation for c in patched if c.inherited})
    if not tables:
        return None
    orm = "Prisma Migrate" if kind == "prisma" else "drizzle-kit's migration"
    return (
        f"{orm} creates the index on {', '.join(tables)} only, not on {'its' if len(tables) == 1 else 'their'} "
        "inheritance children, whose rows the queries read too: run the SQL, which builds it on each child "
        f"as well, {MIGRATION_LOCK_FOLLOW_UP[kind]}"
    )


def _diff(path: str, old: str, new: str) -> str:
    return "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True), new.splitlines(keepends=True), f"a/{path}", f"b/{path}"
        )
    )


# schema file suffix → the ORM whose patch it takes
ORM_OF_SUFFIX = {".prisma": "prisma", ".ts": "drizzle", ".mts": "drizzle"}


def orm_kind(path: Path) -> str:
    """prisma or drizzle, from the schema file's suffix; InputError for any other."""
    kind = ORM_OF_SUFFIX.get(path.suffix.lower())
    if kind is None:
        raise InputError(f"schema file {path}: use a .prisma file or a Drizzle .ts file")
    return kind


def check_schema_file(emit: str, path: Path) -> None:
    """Refuse, before any work, a schema file the patch for `emit` (prisma, drizzle) could not be made in:
    unreadable, not parsing, or declaring no model / table."""
    if emit == "prisma":
        prisma_models(path)
    elif emit == "drizzle":
        drizzle_tables(path)


def prisma_models(path: Path) -> tuple[str, dict[str, PrismaModel]]:
    """The Prisma file's text and its models by table name; InputError when it does not parse (with
    FILE:LINE:COLUMN, from pgdba's own Prisma parser) or declares no model."""
    text = read_text_file(path, "schema file")
    parse_prisma(text, str(path))
    models = read_prisma_models(text)
    if not models:
        raise InputError(f"schema file {path} declares no Prisma model")
    return text, models


def drizzle_tables(path: Path) -> tuple[str, dict[str, DrizzleTable]]:
    """The Drizzle file's text and its pgTable declarations by table name; InputError when it is not
    TypeScript tree-sitter can parse (with FILE:LINE:COLUMN) or declares no pgTable."""
    text = read_text_file(path, "schema file")
    source = text.encode()
    tree = _parser().parse(source)  # type: ignore[attr-defined]
    broken = _first_error(tree.root_node)
    if broken is not None:
        line, column = broken.start_point  # type: ignore[attr-defined]
        raise InputError(f"{path}:{line + 1}:{column + 1}: does not parse as TypeScript")
    tables = read_drizzle_tables(source)
    if not tables:
        raise InputError(f"schema file {path} declares no pgTable")
    return text, tables


def _first_error(root: object) -> object | None:
    """The first ERROR or MISSING node of a tree-sitter tree, in source order."""
    if not root.has_error:  # type: ignore[attr-defined]
        return None
    stack = [root]
    while stack:
        node = stack.pop()
        if node.type == "ERROR" or node.is_missing:  # type: ignore[attr-defined]
            return node
        stack.extend(reversed([c for c in node.children if c.has_error or c.is_missing]))  # type: ignore[attr-defined]
    return root


# Prisma ------------------------------------------------------------------------------------------------
@dataclass
class PrismaModel:
    name: str
    table: str
    fields: dict[str, str]  # column name → field name
    close_line: int  # index of the line holding the model's closing brace
    indent: str


def _strip_comment(line: str) -> str:
    in_string = False
    for i, ch in enumerate(line):
        if ch == '"':
            in_string = not in_string
        elif ch == "/" and not in_string and line[i : i + 2] == "//":
            return line[:i]
    return line


def _map_argument(text: str, attribute: str) -> str | None:
    """The string argument of `@map("x")` / `@@map(name: "x")` in one line, else None."""
    start = text.find(attribute + "(")
    if start < 0:
        return None
    rest = text[start + len(attribute) + 1 :]
    first = rest.find('"')
    second = rest.find('"', first + 1)
    if first < 0 or second < 0:
        return None
    return rest[first + 1 : second]


def read_prisma_models(text: str) -> dict[str, PrismaModel]:
    """Prisma models by database table name."""
    models: dict[str, PrismaModel] = {}
    lines = text.splitlines()
    current: PrismaModel | None = None
    for number, raw in enumerate(lines):
        line = _strip_comment(raw).strip()
        if current is None:
            words = line.split()
            if len(words) >= 3 and words[0] == "model" and words[2] == "{":
                current = PrismaModel(words[1], words[1], {}, -1, "  ")
            continue
        if line == "}":
            current.close_line = number
            models[current.table] = current
            current = None
            continue
        if line.startswith("@@map"):
            mapped = _map_argument(line, "@@map")
            if mapped:
                current.table = mapped
            continue
        if not line or line.startswith("@@"):
            continue
        words = line.split()
        if len(words) >= 2:
            current.indent = raw[: len(raw) - len(raw.lstrip())] or "  "
            column = _map_argument(line, "@map") or words[0]
            current.fields[column] = words[0]
    return models


def prisma_patch(
    path: Path,
    indexes: Sequence[Candidate],
    searches: Sequence[SearchIndexAdvice] = (),
    table_bytes: Mapping[str, int] | None = None,
) -> OrmPatch:
    """Add `@@index([...])` lines to the models of the advised tables (the trigram search indexes too).
    `table_bytes` (schema.table → size): a large table's index gets migration_lock_note."""
    text, models = prisma_models(path)
    patched: list[Candidate] = []
    lines = text.splitlines(keepends=True)
    inserts: dict[int, list[str]] = {}
    unmapped: list[str] = []
    for candidate in indexes:
        model = models.get(candidate.table)
        fields = [model.fields.get(c) for c in candidate.columns] if model else []
        if model is None or None in fields:
            unmapped.append(f"{candidate.label()}: no Prisma model/field for it in {path}")
            continue
        if candidate.include or candidate.is_partial or candidate.key_functions:
            unmapped.append(
                f"{candidate.label()}: Prisma cannot express INCLUDE / partial / expression indexes; "
                "use the SQL"
            )
            continue
        line = prisma_index_line(candidate, [f for f in fields if f])
        inserts.setdefault(model.close_line, []).append(f"{model.indent}{line}\n")
        patched.append(candidate)
    notes: list[str] = []
    for search in searches:
        model = models.get(search.table)
        search_field = model.fields.get(search.column) if model else None
        if model is None or search_field is None:
            unmapped.append(f"{search.label()}: no Prisma model/field for it in {path}")
            continue
        if search.function:
            unmapped.append(f"{search.label()}: Prisma cannot express expression indexes; use the SQL")
            continue
        line = prisma_search_index_line(search, search_field)
        inserts.setdefault(model.close_line, []).append(f"{model.indent}{line}\n")
        notes = [PRISMA_TRIGRAM_NOTE]
    locking = migration_lock_note("prisma", patched, table_bytes or {})
    inheriting = inheritance_patch_note("prisma", patched)
    notes += [note for note in (locking, inheriting) if note]
    new_lines: list[str] = []
    for number, line in enumerate(lines):
        new_lines.extend(inserts.get(number, []))
        new_lines.append(line)
    new_text = "".join(new_lines)
    return OrmPatch(str(path), new_text, _diff(path.name, text, new_text), unmapped, notes)


def prisma_index_line(candidate: Candidate, fields: Sequence[str]) -> str:
    """`@@index([a, b])`, with `map:` only when the name differs from Prisma's default, and
    `b(ops: raw("text_pattern_ops"))` for a key in a pattern operator class."""
    default = f"{candidate.table}_{'_'.join(candidate.columns)}_idx"
    mapping = (
        "" if candidate.name() == default else f", map: {json.dumps(candidate.name(), ensure_ascii=False)}"
    )
    keys = [
        f'{field}(ops: raw("{candidate.opclass(column)}"))' if candidate.opclass(column) else field
        for column, field in zip(candidate.columns, fields, strict=True)
    ]
    return f"@@index([{', '.join(keys)}]{mapping})"


def prisma_search_index_line(search: SearchIndexAdvice, field_name: str) -> str:
    """`@@index([title(ops: raw("gin_trgm_ops"))], map: "course_title_trgm_idx", type: Gin)` (Prisma's
    default name would be `course_title_idx`)."""
    return f'@@index([{field_name}(ops: raw("{OPCLASS}"))], map: {json.dumps(search.name(), ensure_ascii=False)}, type: Gin)'


# Drizzle -----------------------------------------------------------------------------------------------
@dataclass
class DrizzleTable:
    variable: str
    table: str
    fields: dict[str, str]  # column name → property name
    last_argument_end: int  # byte offset just after the pgTable call's last argument
    extra_param: str | None  # parameter name of the third argument's arrow function
    extra_insert: int | None  # byte offset where new entries go: after its last entry (and comma) or `[`
    extra_is_object: bool
    extra_needs_comma: bool  # its last entry has no trailing comma
    indent: str  # the indentation of the line the new entries' block closes on
    indent_unit: str  # one level of the file's indentation: spaces or a tab, as the columns are indented
    entry_indent: str  # the indentation of the third argument's entries (else indent + indent_unit)
    close_on_new_line: bool  # a line break lies between extra_insert and the closing bracket
    quote: str  # the quote of the table name's string, used for the index names


def _parser() -> object:
    import tree_sitter_typescript
    from tree_sitter import Language, Parser

    return Parser(Language(tree_sitter_typescript.language_typescript()))


def _text(source: bytes, node: object) -> str:
    return source[node.start_byte : node.end_byte].decode()  # type: ignore[attr-defined]


def _string_value(source: bytes, node: object) -> str | None:
    if node is None or node.type not in ("string", "template_string"):  # type: ignore[attr-defined]
        return None
    return _text(source, node)[1:-1]


def _named_children(node: object) -> list[object]:
    return list(node.named_children)  # type: ignore[attr-defined]


def _line_start(source: bytes, offset: int) -> int:
    return source.rfind(b"\n", 0, offset) + 1


def _line_indent(source: bytes, offset: int) -> str:
    """The leading whitespace (spaces and tabs) of the line holding byte `offset`."""
    line = source[_line_start(source, offset) :].split(b"\n", 1)[0]
    return line[: len(line) - len(line.lstrip(b" \t"))].decode()


def _starts_its_line(source: bytes, offset: int) -> bool:
    return not source[_line_start(source, offset) : offset].strip(b" \t")


def _indent_unit(source: bytes, block: object) -> str:
    """One indentation level, read from a multi-line `{ … }` block: its first entry's indentation past the
    indentation of the line it closes on; two spaces when the block does not show one."""
    entries = _named_children(block)
    if not entries:
        return "  "
    first = entries[0].start_byte  # type: ignore[attr-defined]
    outer = _line_indent(source, block.end_byte - 1)  # type: ignore[attr-defined]
    inner = _line_indent(source, first)
    if _starts_its_line(source, first) and inner.startswith(outer) and len(inner) > len(outer):
        return inner[len(outer) :]
    return "  "


def _js_string(value: str, quote: str) -> str:
    """`value` as a JavaScript string literal in the file's quote style (double or single)."""
    double = json.dumps(value)
    if quote != "'":
        return double
    return "'" + double[1:-1].replace('\\"', '"').replace("'", "\\'") + "'"


def _column_name(source: bytes, value: object, key: str) -> str:
    """`integer("org_id").notNull()` → org_id; `text()` → the property name."""
    node = value
    while node is not None and node.type == "call_expression":  # type: ignore[attr-defined]
        function = node.child_by_field_name("function")  # type: ignore[attr-defined]
        if function is not None and function.type == "identifier":
            arguments = _named_children(node.child_by_field_name("arguments"))  # type: ignore[attr-defined]
            name = _string_value(source, arguments[0]) if arguments else None
            return name or key
        node = function.child_by_field_name("object") if function is not None else None
    return key


def read_drizzle_tables(source: bytes) -> dict[str, DrizzleTable]:
    """pgTable(...) declarations by database table name."""
    tree = _parser().parse(source)  # type: ignore[attr-defined]
    tables: dict[str, DrizzleTable] = {}
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        stack.extend(reversed(node.children))
        if node.type != "variable_declarator":
            continue
        value = node.child_by_field_name("value")
        name = node.child_by_field_name("name")
        if value is None or value.type != "call_expression" or name is None:
            continue
        function = value.child_by_field_name("function")
        if function is None or _text(source, function).split(".")[-1] not in ("pgTable", "table"):
            continue
        arguments = value.child_by_field_name("arguments")
        args = _named_children(arguments)
        table_name = _string_value(source, args[0]) if args else None
        if table_name is None or len(args) < 2 or args[1].type != "object":  # type: ignore[attr-defined]
            continue
        fields: dict[str, str] = {}
        for pair in _named_children(args[1]):
            if pair.type != "pair":  # type: ignore[attr-defined]
                continue
            key = _text(source, pair.child_by_field_name("key")).strip("\"'")  # type: ignore[attr-defined]
            fields[_column_name(source, pair.child_by_field_name("value"), key)] = key  # type: ignore[attr-defined]
        last_end = args[-1].end_byte  # type: ignore[attr-defined]
        quote = _text(source, args[0])[0]
        unit = _indent_unit(source, args[1])
        indent = _line_indent(source, last_end - 1)
        table = DrizzleTable(
            _text(source, name),
            table_name,
            fields,
            last_end,
            None,
            None,
            False,
            False,
            indent,
            unit,
            indent + unit,
            True,
            quote if quote in "'\"" else '"',
        )
        if len(args) >= 3 and args[2].type == "arrow_function":  # type: ignore[attr-defined]
            _third_argument(source, args[2], table)
        tables[table_name] = table
    return tables


def _third_argument(source: bytes, arrow: object, table: DrizzleTable) -> None:
    parameter = arrow.child_by_field_name("parameter")  # type: ignore[attr-defined]
    if parameter is None:
        parameters = arrow.child_by_field_name("parameters")  # type: ignore[attr-defined]
        names = _named_children(parameters) if parameters is not None else []
        parameter = names[0] if names else None
    body = arrow.child_by_field_name("body")  # type: ignore[attr-defined]
    if body is not None and body.type == "parenthesized_expression":
        body = _named_children(body)[0]
    if parameter is None or body is None or body.type not in ("array", "object"):
        return
    table.extra_param = _text(source, parameter).split(":")[0].strip()
    table.extra_is_object = body.type == "object"
    # comments are named nodes too: new entries go after the last real one, before a trailing comment
    entries: list[Any] = [c for c in body.named_children if c.type != "comment"]
    children = list(body.children)
    table.extra_insert = body.start_byte + 1
    if entries:
        following = children[children.index(entries[-1]) + 1 :]
        comma = following[0] if following and following[0].type == "," else None
        table.extra_insert = (comma or entries[-1]).end_byte
        table.extra_needs_comma = comma is None
    close = body.end_byte - 1
    table.indent = _line_indent(source, close)
    table.close_on_new_line = b"\n" in source[table.extra_insert : close]
    first = entries[0].start_byte if entries else None
    if first is not None and _starts_its_line(source, first):
        table.entry_indent = _line_indent(source, first)
    else:
        table.entry_indent = table.indent + table.indent_unit


def drizzle_index_call(
    candidate: Candidate,
    param: str,
    fields: Sequence[str],
    where_field: str | None = None,
    *,
    quote: str = '"',
) -> str:
    """`index("name").on(t.a, t.b)`, with `t.b.op("text_pattern_ops")` for a key in a pattern operator
    class, `.with({ fillfactor: 100 })` for a packed index and `.where(sql`${t.c} IS NULL`)` for a partial
    one; the name in the file's `quote` (" or ')."""
    columns = ", ".join(
        _drizzle_key(candidate, column, f"{param}.{field}", quote)
        for column, field in zip(candidate.columns, fields, strict=True)
    )
    call = f"index({_js_string(candidate.name(), quote)}).on({columns})"
    if candidate.fillfactor is not None:
        call += f".with({{ fillfactor: {candidate.fillfactor} }})"
    if candidate.where_column is not None and where_field is not None:
        column = f"${{{param}.{where_field}}}"
        if candidate.where_operator in NULL_TESTS:
            predicate = f"{column} {candidate.where_operator}"
        else:
            predicate = f"{column} = {sql.Literal(candidate.where_value).as_string(None).strip()}"
        call += f".where(sql`{_template_text(predicate, keep=column)}`)"
    return call


def _drizzle_key(candidate: Candidate, column: str, reference: str, quote: str) -> str:
    """One key of `.on(…)`: `t.email`, `t.email.op("text_pattern_ops")`, or an expression key
    `` sql`lower(${t.email})` `` (its operator class inside the template: `.op()` is a column's method, and
    drizzle-kit writes an expression key's text as it stands)."""
    if candidate.function(column):
        opclass = f" {candidate.opclass(column)}" if candidate.opclass(column) else ""
        return f"sql`{candidate.function(column)}(${{{reference}}}){opclass}`"
    if candidate.opclass(column):
        return f"{reference}.op({_js_string(candidate.opclass(column), quote)})"
    return reference


def _template_text(text: str, *, keep: str) -> str:
    """Text for a JavaScript template literal: backslashes, backticks and `${` escaped, except the one
    substitution `keep` (the column)."""
    head, _, tail = text.partition(keep)

    def escape(part: str) -> str:
        return part.replace("\\", "\\\\").replace("`", "\\`").replace("${", "\\${")

    return escape(head) + keep + escape(tail)


def drizzle_search_index_call(search: SearchIndexAdvice, reference: str, *, quote: str = '"') -> str:
    """`index("course_title_trgm_idx").using("gin", t.title.op("gin_trgm_ops"))`; for an expression,
    `` .using("gin", sql`lower(${t.title}) gin_trgm_ops`) `` (as _drizzle_key writes one)."""
    name, method, opclass = (_js_string(v, quote) for v in (search.name(), "gin", OPCLASS))
    if search.function:
        return f"index({name}).using({method}, sql`{search.function}(${{{reference}}}) {OPCLASS}`)"
    return f"index({name}).using({method}, {reference}.op({opclass}))"


def drizzle_patch(
    path: Path,
    indexes: Sequence[Candidate],
    searches: Sequence[SearchIndexAdvice] = (),
    table_bytes: Mapping[str, int] | None = None,
) -> OrmPatch:
    """Add `index("name").on(t.a, t.b)` entries to the tables' third pgTable argument (and
    `index("name").using("gin", …)` for the trigram search indexes). `table_bytes` (schema.table → size): a
    large table's index gets migration_lock_note."""
    text, tables = drizzle_tables(path)
    patched: list[Candidate] = []
    source = text.encode()
    edits: list[tuple[int, str]] = []
    unmapped: list[str] = []
    pending: dict[str, list[str]] = {}
    needs_sql = False
    for candidate in indexes:
        table = tables.get(candidate.table)
        fields = [table.fields.get(c) for c in candidate.columns] if table else []
        where_field = table.fields.get(candidate.where_column) if table and candidate.where_column else None
        if table is None or None in fields or (candidate.is_partial and where_field is None):
            unmapped.append(f"{candidate.label()}: no pgTable/column for it in {path}")
            continue
        if candidate.include:
            unmapped.append(f"{candidate.label()}: INCLUDE index left to the SQL output")
            continue
        param = table.extra_param or "t"
        call = drizzle_index_call(candidate, param, [f for f in fields if f], where_field, quote=table.quote)
        needs_sql = needs_sql or candidate.is_partial or bool(candidate.key_functions)
        if table.extra_is_object:
            call = f"{_drizzle_entry_key(candidate.name())}: {call}"
        pending.setdefault(candidate.table, []).append(call)
        patched.append(candidate)
    notes: list[str] = []
    for search in searches:
        table = tables.get(search.table)
        search_field = table.fields.get(search.column) if table else None
        if table is None or search_field is None:
            unmapped.append(f"{search.label()}: no pgTable/column for it in {path}")
            continue
        call = drizzle_search_index_call(
            search, f"{table.extra_param or 't'}.{search_field}", quote=table.quote
        )
        needs_sql = needs_sql or bool(search.function)
        if table.extra_is_object:
            call = f"{_drizzle_entry_key(search.name())}: {call}"
        pending.setdefault(search.table, []).append(call)
        notes = [DRIZZLE_TRIGRAM_NOTE]
    locking = migration_lock_note("drizzle", patched, table_bytes or {})
    inheriting = inheritance_patch_note("drizzle", patched)
    notes += [note for note in (locking, inheriting) if note]
    for table_name, calls in pending.items():
        edits.append(_entries_edit(source, tables[table_name], calls))
    if pending:
        edits.extend(_import_edit(source, "drizzle-orm/pg-core", "index"))
    if needs_sql:
        edits.extend(_import_edit(source, "drizzle-orm", "sql"))
    new_source = source
    for offset, insert in sorted(edits, reverse=True):
        new_source = new_source[:offset] + insert.encode() + new_source[offset:]
    new_text = new_source.decode()
    return OrmPatch(str(path), new_text, _diff(path.name, text, new_text), unmapped, notes)


def _drizzle_entry_key(index_name: str) -> str:
    """The key of an index in an object-style third pgTable argument: the name in camelCase, as Drizzle's
    docs write them (`users_org_id_idx` → `usersOrgIdIdx`)."""
    words = index_name.split("_")
    return words[0] + "".join(w[:1].upper() + w[1:] for w in words[1:])


def _entries_edit(source: bytes, table: DrizzleTable, calls: Sequence[str]) -> tuple[int, str]:
    """Where and what to insert for the new entries, one a line at the indentation of the table's third
    argument (a new `(t) => [ … ]` argument when it has none)."""
    lines = "".join(f"\n{table.entry_indent}{call}," for call in calls)
    if table.extra_insert is None:
        return table.last_argument_end, f", (t) => [{lines}\n{table.indent}]"
    separator = "," if table.extra_needs_comma else ""
    closing = "" if table.close_on_new_line else f"\n{table.indent}"
    return table.extra_insert, separator + lines + closing


def _import_edit(source: bytes, package: str, name: str) -> list[tuple[int, str]]:
    """Make `name` a binding of the file: nothing when an import already binds that local name (from any
    module: a second binding would not compile), else added to the file's named import from `package`,
    else a new import line after the last import."""
    tree = _parser().parse(source)  # type: ignore[attr-defined]
    last_import = None
    target = None  # the named_imports of the import from `package`
    bound: set[str] = set()
    for statement in tree.root_node.children:
        if statement.type != "import_statement":
            continue
        last_import = statement
        module = statement.child_by_field_name("source")
        stack = list(statement.named_children)
        while stack:
            node = stack.pop()
            if node.type == "named_imports":
                for specifier in node.named_children:
                    bound.add(_text(source, specifier).split(" as ")[-1].strip())
                if module is not None and _string_value(source, module) == package:
                    target = node
            elif node.type == "identifier":  # a default import
                bound.add(_text(source, node))
            else:
                stack.extend(node.named_children)
    if name in bound:
        return []
    if target is not None:
        last = target.named_children[-1] if target.named_children else None
        return [(last.end_byte, f", {name}")] if last is not None else [(target.end_byte - 1, f" {name} ")]
    if last_import is None:
        return [(0, f"import {{ {name} }} from {_js_string(package, chr(34))};\n")]
    last_source = last_import.child_by_field_name("source")
    quote = _text(source, last_source)[0] if last_source is not None else '"'
    end = ";" if _text(source, last_import).endswith(";") else ""
    return [(last_import.end_byte, f"\nimport {{ {name} }} from {_js_string(package, quote)}{end}")]
