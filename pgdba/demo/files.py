"""Where the demo's four schema descriptions live, and the sections of schema.sql.

schema.sql keeps Prisma's migration layout: every statement follows a `-- CreateEnum`, `-- CreateTable`,
`-- CreateIndex` or `-- AddForeignKey` comment. The builder loads data between the tables and the indexes,
as pg_restore does, because building indexes and checking foreign keys once is much faster than per row.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DEMO_DIR = Path(__file__).resolve().parent
SCHEMA_SQL = DEMO_DIR / "schema.sql"
SCHEMA_PRISMA = DEMO_DIR / "schema.prisma"
SCHEMA_DRIZZLE = DEMO_DIR / "schema.ts"
SQLALCHEMY_MODELS = "pgdba.demo.models:Base"
"""The SQLAlchemy models as `module:attribute` (the form `pgdba schema check sqlalchemy:MOD:ATTR` takes)."""

_SECTION_MARKERS = ("CreateEnum", "CreateTable", "CreateIndex", "AddForeignKey")


@dataclass(frozen=True)
class SchemaSections:
    """schema.sql's statements grouped by kind, in file order."""

    enums: tuple[str, ...]
    tables: tuple[str, ...]
    indexes: tuple[str, ...]
    foreign_keys: tuple[str, ...]


def schema_sections(text: str | None = None) -> SchemaSections:
    """Split schema.sql (or `text` in the same layout) into its Prisma migration sections."""
    source = SCHEMA_SQL.read_text() if text is None else text
    groups: dict[str, list[str]] = {marker: [] for marker in _SECTION_MARKERS}
    current: str | None = None
    statement: list[str] = []
    for line in source.splitlines():
        stripped = line.strip()
        if stripped.startswith("--"):
            marker = stripped[2:].strip()
            if marker in groups:
                current = marker
            continue
        if not stripped and not statement:
            continue
        statement.append(line)
        if stripped.endswith(";"):
            if current is None:
                raise ValueError(f"statement before any section marker: {statement[0]!r}")
            groups[current].append("\n".join(statement).strip())
            statement = []
    if statement:
        raise ValueError(f"unterminated statement: {statement[0]!r}")
    return SchemaSections(
        enums=tuple(groups["CreateEnum"]),
        tables=tuple(groups["CreateTable"]),
        indexes=tuple(groups["CreateIndex"]),
        foreign_keys=tuple(groups["AddForeignKey"]),
    )
