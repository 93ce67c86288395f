"""Statements run inside a function name its parameters and variables: read as the parameters they are.

With pg_stat_statements.track = all the statements a plpgsql or SQL function runs are recorded too
(toplevel false), as written in its body: `SELECT sum(total) FROM orders WHERE customer_id = c AND status
= $2`, where `c` is the function's parameter. The function passes it as a parameter, so the query plans
like `customer_id = $3`; planned on its own it fails (`column "c" does not exist`) and the advisor had no
query to cost. Each name PostgreSQL reports as no column is read as the next `$n`, until the statement
parses (PREPARE: parse analysis only, nothing planned or run).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from typing import LiteralString, cast

import pglast
import psycopg
from pglast import ast
from psycopg import errors, sql

from pgdba.advisor.parse_tree import walk
from pgdba.advisor.workload import WorkloadQuery, parameter_count

MAX_VARIABLES = 8  # names read as parameters in one statement before giving up
_UNDEFINED = re.compile(r'^column "((?:[^"]|"")+)" does not exist')
PREPARED_NAME = "pgdba_routine_variables"


def variables_as_parameters(
    conn: psycopg.Connection, workload: Sequence[WorkloadQuery]
) -> tuple[list[WorkloadQuery], list[str]]:
    """The workload with each statement recorded inside a function (WorkloadQuery.nested) reading the
    function's variables as parameters, and a note naming them."""
    result: list[WorkloadQuery] = []
    read: dict[str, None] = {}
    for query in workload:
        if query.nested:
            text, names = _with_parameters(conn, query.sql)
            if names:
                read.update(dict.fromkeys(names))
                query = replace(query, sql=text)
        result.append(query)
    if not read:
        return result, []
    return result, [
        "statements run inside functions name their parameters or variables "
        f"({', '.join(read)}): each is read as a parameter, as the function passes it"
    ]


def _with_parameters(conn: psycopg.Connection, text: str) -> tuple[str, list[str]]:
    names: list[str] = []
    for _ in range(MAX_VARIABLES):
        try:
            with conn.transaction():
                conn.execute(
                    sql.SQL("PREPARE {} AS {}").format(
                        sql.Identifier(PREPARED_NAME), sql.SQL(cast(LiteralString, text))
                    )
                )
                conn.execute(sql.SQL("DEALLOCATE {}").format(sql.Identifier(PREPARED_NAME)))
            return text, names
        except errors.UndefinedColumn as exc:
            found = _UNDEFINED.match(exc.diag.message_primary or "")
            name = found.group(1).replace('""', '"') if found else None
            changed = _as_parameter(text, name) if name is not None else None
            if name is None or changed is None:
                return text, names
            text = changed
            names.append(name)
        except psycopg.Error:  # a parameter of unknown type, a privilege: the advisor says what it says
            return text, names
    return text, names


def _as_parameter(text: str, name: str) -> str | None:
    """The text with each unqualified reference to `name` written as the next `$n`; None when it has none."""
    try:
        tree = pglast.parse_sql(text)
    except pglast.parser.ParseError:
        return None
    starts = sorted(
        {
            int(node.location)
            for node in walk(tree)
            if isinstance(node, ast.ColumnRef)
            and node.location is not None
            and len(node.fields or ()) == 1
            and isinstance((node.fields or ())[0], ast.String)
            and (node.fields or ())[0].sval == name
        },
        reverse=True,
    )
    if not starts:
        return None
    ends = {token.start: token.end + 1 for token in pglast.parser.scan(text)}
    # the lowest number the text does not use (pg_stat_statements numbers a nested statement's constants
    # after the slots the function's own parameters take: `… = c AND status = $2`)
    used = {node.number for node in walk(tree) if isinstance(node, ast.ParamRef)}
    number = min(set(range(1, parameter_count(text) + 2)) - used)
    for start in starts:
        text = f"{text[:start]}${number}{text[ends.get(start, start + len(name)) :]}"
    return text
