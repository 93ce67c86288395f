"""The ORM patches parse back with pgdba's own schema readers into the advised indexes."""

from __future__ import annotations

from pathlib import Path

import pytest

from pgdba.advisor.candidates import Candidate
from pgdba.advisor.orm_patch import drizzle_patch, prisma_patch
from pgdba.demo.files import SCHEMA_DRIZZLE, SCHEMA_PRISMA
from pgdba.schema.drizzle_source import load_drizzle
from pgdba.schema.model import SchemaModel
from pgdba.schema.prisma_source import load_prisma

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
