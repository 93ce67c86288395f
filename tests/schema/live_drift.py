"""Shared steps of the live-schema drift tests: change a database, then list what `schema check` reports."""

from __future__ import annotations

from typing import Any

from pgdba.schema import check_schemas


def drift(source: str, db: Any) -> list[tuple[str, str]]:
    """(code, object) of each drift finding between `source` and the database, sorted."""
    result = check_schemas([source, "live"], dsn=db.dsn)
    return sorted((f.code, f.object) for f in result.pairs[0].drift)


def alter(db: Any, statements: str) -> None:
    """Run `statements` ("; "-separated) on the database, one by one."""
    with db.connect() as conn:
        for statement in statements.split("; "):
            conn.execute(statement)  # type: ignore[arg-type]
