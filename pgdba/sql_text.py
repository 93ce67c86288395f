"""SQL text shown to the user (fix suggestions, maintenance statements): identifiers quoted by psycopg."""

from __future__ import annotations

from psycopg import sql


def qualified(schema: str, name: str) -> str:
    """ "schema"."name", quoted the way PostgreSQL needs it."""
    return sql.Identifier(schema, name).as_string(None)


def identifier(name: str) -> str:
    return sql.Identifier(name).as_string(None)
