"""SQL text shown to the user (fix suggestions, maintenance statements): identifiers quoted by psycopg."""

from __future__ import annotations

from psycopg import sql


def qualified(schema: str, name: str) -> str:
    """ "schema"."name", quoted the way PostgreSQL needs it."""
    return sql.Identifier(schema, name).as_string(None)


def identifier(name: str) -> str:
    return sql.Identifier(name).as_string(None)


def unquoted(name: str) -> str:
    """A name as it is stored: `"Course"` → Course (a name PostgreSQL prints bare stays as it is)."""
    if len(name) >= 2 and name[0] == '"' and name[-1] == '"':
        return name[1:-1].replace('""', '"')
    return name
