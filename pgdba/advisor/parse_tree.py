"""Walking a pglast parse tree: every node below a root, for the readers that look for one kind of node;
and reading a constant or a column out of a (possibly cast) node."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast


def children(node: object) -> Iterator[object]:
    """The direct children of a node (nodes and lists of nodes), or the items of a list."""
    if isinstance(node, list | tuple):
        yield from node
    elif isinstance(node, ast.Node):
        for name in getattr(node, "__slots__", ()):
            value = getattr(node, name, None)
            if isinstance(value, ast.Node | list | tuple):
                yield value


def walk(root: object, *, skip: tuple[type[ast.Node], ...] = ()) -> Iterator[ast.Node]:
    """Every node below `root` (a node, or a list such as pglast.parse_sql's result), the root included;
    nodes of a `skip` type are yielded but not entered."""
    stack: list[object] = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Node):
            yield node
            if isinstance(node, skip):
                continue
        stack.extend(children(node))


def constant_text(node: object) -> str | None:
    """A plain constant, casts removed (`'new'::text`, `5`, `true`), in the text form pg_stats uses; None for
    anything else (NULL included)."""
    while isinstance(node, ast.TypeCast):
        node = node.arg
    if not isinstance(node, ast.A_Const) or node.isnull:
        return None
    value = node.val
    if isinstance(value, ast.String):
        return str(value.sval)
    if isinstance(value, ast.Integer):
        return str(value.ival)
    if isinstance(value, ast.Float):
        return str(value.fval)
    if isinstance(value, ast.Boolean):
        return "true" if value.boolval else "false"
    return None


def column_name(node: object) -> str | None:
    """The column of a column reference, casts removed (`(status)::text` for a varchar column)."""
    while isinstance(node, ast.TypeCast):
        node = node.arg
    if isinstance(node, ast.ColumnRef) and node.fields and isinstance(node.fields[-1], ast.String):
        return str(node.fields[-1].sval)
    return None
