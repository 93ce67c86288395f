"""The ORM patches parse back with pgdba's own schema readers into the advised indexes."""

from __future__ import annotations

from pathlib import Path

import pytest

from pgdba.advisor.candidates import Candidate
from pgdba.advisor.orm_patch import drizzle_patch, prisma_patch
from pgdba.demo.files import SCHEMA_DRIZZLE, SCHEMA_PRISMA
from pgdba.schema import check_schemas
from pgdba.schema.drizzle_source import load_drizzle
from pgdba.schema.model import SchemaModel
from pgdba.schema.prisma_source import load_prisma
from tests.conftest import TestDatabase

ADVISED = [
    Candidate("public", "BehaviorLog", ("userId", "timestamp")),
    Candidate("public", "Enrollment", ("courseId",)),
    Candidate("public", "LessonProgress", ("userId", "lessonId")),
]


def indexes(model: SchemaModel, table: str) -> dict[str, tuple[str, ...]]:
    found = model.tables[("public", table)].indexes
    return {i.name: tuple(c.expression for c in i.columns) for i in found if not i.unique}


@pytest.mark.parametrize(
    ("schema", "patch", "load"),
    [(SCHEMA_PRISMA, prisma_patch, load_prisma), (SCHEMA_DRIZZLE, drizzle_patch, load_drizzle)],
    ids=["prisma", "drizzle"],
)
def test_patched_demo_schema_parses_back_with_the_advised_indexes(
    tmp_path: Path, schema: Path, patch: object, load: object
) -> None:
    patched = tmp_path / schema.name
    result = patch(schema, ADVISED)  # type: ignore[operator]
    assert result.unmapped == []
    patched.write_text(result.new_text)
    before = load(schema)  # type: ignore[operator]
    after = load(patched)  # type: ignore[operator]
    for candidate in ADVISED:
        assert candidate.name() not in indexes(before, candidate.table)
        assert indexes(after, candidate.table)[candidate.name()] == candidate.columns
    # nothing else changed: the other tables' indexes are the same
    for key in before.tables:
        if key[1] not in {c.table for c in ADVISED}:
            assert indexes(after, key[1]) == indexes(before, key[1])


PARTIAL = [
    Candidate("public", "Notification", ("userId",), (), "readAt", None, "IS NULL"),
    Candidate("public", "Notification", ("createdAt",), (), "type", "SYSTEM"),
]


@pytest.mark.catalog
def test_drizzle_partial_index_patch_declares_the_index_the_sql_builds(
    db: TestDatabase, tmp_path: Path
) -> None:
    """The patched schema.ts and the database after running the advised SQL agree (schema verifier)."""
    db.execute((SCHEMA_DRIZZLE.parent / "schema.sql").read_text())
    for candidate in PARTIAL:
        db.execute(candidate.ddl(concurrently=False).as_string(None))
    result = drizzle_patch(SCHEMA_DRIZZLE, PARTIAL)
    assert result.unmapped == []
    assert 'import { sql } from "drizzle-orm";' in result.new_text
    assert ".where(sql`${t.readAt} IS NULL`)" in result.new_text
    patched = tmp_path / "schema.ts"
    patched.write_text(result.new_text)
    model = load_drizzle(patched)
    predicates = {i.name: i.predicate for i in model.tables[("public", "Notification")].indexes}
    assert all(predicates[c.name()] for c in PARTIAL)
    check = check_schemas([f"drizzle:{patched}", "live"], dsn=db.dsn)
    assert check.sources[0].notes == []
    assert [f.title for f in check.pairs[0].drift] == []
    # and without the patch the verifier does see both indexes as missing from schema.ts
    unpatched = check_schemas([f"drizzle:{SCHEMA_DRIZZLE}", "live"], dsn=db.dsn)
    missing = {f.object for f in unpatched.pairs[0].drift}
    assert {f"Notification.{c.name()}" for c in PARTIAL} <= missing
