"""Advised indexes as a patch for the user's ORM schema: Prisma `@@index([...])`, Drizzle `index().on(...)`.

Table and column names are mapped back to the ORM's model and field names (Prisma `@@map` / `@map`,
Drizzle `pgTable("table", { field: type("column") })`). Index names follow PostgreSQL's default
`table_col_idx`, which is also Prisma's default, so Prisma needs no `map:` argument. The Drizzle file is
read with tree-sitter's TypeScript grammar; the Prisma file with a small block reader (its grammar is
line-oriented: `model X {`, one field or `@@attribute` per line, `}`). A partial index becomes Drizzle's
`.where(sql`…`)` (Prisma has no partial indexes); INCLUDE columns have no ORM form and stay in the SQL.
A fillfactor becomes Drizzle's `.with({ fillfactor: N })`; Prisma cannot set one, so its `@@index` builds
the same index with PostgreSQL's default fillfactor.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from psycopg import sql

from pgdba.advisor.candidates import NULL_TESTS, Candidate
from pgdba.errors import InputError
from pgdba.schema.prisma_syntax import parse_prisma
from pgdba.text_files import read_text_file


@dataclass
class OrmPatch:
    """The new schema text, its unified diff, and the indexes that could not be expressed."""

    path: str
    new_text: str
    diff: str
    unmapped: list[str] = field(default_factory=list)


def _diff(path: str, old: str, new: str) -> str:
    return "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True), new.splitlines(keepends=True), f"a/{path}", f"b/{path}"
        )
    )


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


def prisma_patch(path: Path, indexes: Sequence[Candidate]) -> OrmPatch:
    """Add `@@index([...])` lines to the models of the advised tables."""
    text, models = prisma_models(path)
    lines = text.splitlines(keepends=True)
    inserts: dict[int, list[str]] = {}
    unmapped: list[str] = []
    for candidate in indexes:
        model = models.get(candidate.table)
        fields = [model.fields.get(c) for c in candidate.columns] if model else []
        if model is None or None in fields:
            unmapped.append(f"{candidate.label()}: no Prisma model/field for it in {path}")
            continue
        if candidate.include or candidate.is_partial:
            unmapped.append(
                f"{candidate.label()}: Prisma cannot express INCLUDE / partial indexes; use the SQL"
            )
            continue
        line = prisma_index_line(candidate, [f for f in fields if f])
        inserts.setdefault(model.close_line, []).append(f"{model.indent}{line}\n")
    new_lines: list[str] = []
    for number, line in enumerate(lines):
        new_lines.extend(inserts.get(number, []))
        new_lines.append(line)
    new_text = "".join(new_lines)
    return OrmPatch(str(path), new_text, _diff(path.name, text, new_text), unmapped)


def prisma_index_line(candidate: Candidate, fields: Sequence[str]) -> str:
    """`@@index([a, b])`, with `map:` only when the name differs from Prisma's default."""
    default = f"{candidate.table}_{'_'.join(candidate.columns)}_idx"
    mapping = "" if candidate.name() == default else f', map: "{candidate.name()}"'
    return f"@@index([{', '.join(fields)}]{mapping})"


# Drizzle -----------------------------------------------------------------------------------------------
@dataclass
class DrizzleTable:
    variable: str
    table: str
    fields: dict[str, str]  # column name → property name
    call_end: int  # byte offset of the pgTable call's closing parenthesis
    extra_param: str | None  # parameter name of the third argument's arrow function
    extra_insert: int | None  # byte offset where a new entry goes inside its array / object
    extra_is_object: bool
    extra_empty: bool


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
        table = DrizzleTable(
            _text(source, name), table_name, fields, arguments.end_byte - 1, None, None, False, True
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
    table.extra_insert = body.end_byte - 1
    table.extra_is_object = body.type == "object"
    table.extra_empty = not _named_children(body)


def drizzle_index_call(
    candidate: Candidate, param: str, fields: Sequence[str], where_field: str | None = None
) -> str:
    """`index("name").on(t.a, t.b)`, with `.with({ fillfactor: 100 })` for a packed index and
    `.where(sql`${t.c} IS NULL`)` for a partial one."""
    columns = ", ".join(f"{param}.{f}" for f in fields)
    call = f'index("{candidate.name()}").on({columns})'
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


def _template_text(text: str, *, keep: str) -> str:
    """Text for a JavaScript template literal: backslashes, backticks and `${` escaped, except the one
    substitution `keep` (the column)."""
    head, _, tail = text.partition(keep)

    def escape(part: str) -> str:
        return part.replace("\\", "\\\\").replace("`", "\\`").replace("${", "\\${")

    return escape(head) + keep + escape(tail)


def drizzle_patch(path: Path, indexes: Sequence[Candidate]) -> OrmPatch:
    """Add `index("name").on(t.a, t.b)` entries to the tables' third pgTable argument."""
    text, tables = drizzle_tables(path)
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
        call = drizzle_index_call(candidate, param, [f for f in fields if f], where_field)
        needs_sql = needs_sql or candidate.is_partial
        if table.extra_is_object:
            words = candidate.name().split("_")
            key = words[0] + "".join(w[:1].upper() + w[1:] for w in words[1:])  # camelCase, as Drizzle docs
            call = f"{key}: {call}"
        pending.setdefault(candidate.table, []).append(call)
    for table_name, calls in pending.items():
        table = tables[table_name]
        if table.extra_insert is not None:
            before = source[: table.extra_insert].rstrip()
            separator = "" if table.extra_empty or before.endswith(b",") else ","
            edits.append((len(before), separator + "\n  " + ",\n  ".join(calls) + ","))
        else:
            edits.append((table.call_end, ", (t) => [\n  " + ",\n  ".join(calls) + ",\n]"))
    if pending:
        edits.extend(_import_edit(source, "drizzle-orm/pg-core", "index"))
    if needs_sql:
        edits.extend(_import_edit(source, "drizzle-orm", "sql"))
    new_source = source
    for offset, insert in sorted(edits, reverse=True):
        new_source = new_source[:offset] + insert.encode() + new_source[offset:]
    new_text = new_source.decode()
    return OrmPatch(str(path), new_text, _diff(path.name, text, new_text), unmapped)


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
    line = f'import {{ {name} }} from "{package}";'
    if last_import is None:
        return [(0, line + "\n")]
    return [(last_import.end_byte, "\n" + line)]
