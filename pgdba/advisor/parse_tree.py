"""Walking a pglast parse tree: every node below a root, for the readers that look for one kind of node."""

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
