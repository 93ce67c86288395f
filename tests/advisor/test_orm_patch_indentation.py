"""The advisor's ORM patches follow the schema file's indentation (spaces or tabs, any width) and quotes,
and still parse back with pgdba's own schema readers into the advised index."""

from __future__ import annotations

from pathlib import Path

import pytest

from pgdba.advisor.orm_patch import drizzle_patch, prisma_patch
from pgdba.schema.drizzle_source import load_drizzle
from pgdba.schema.prisma_source import load_prisma
from tests.advisor.orm_indentation_cases import ADVISED, DRIZZLE_CASES, PRISMA_CASES


def _index_columns(model: object) -> dict[str, tuple[str, ...]]:
    table = model.tables[("public", "orders")]  # type: ignore[attr-defined]
    return {i.name: tuple(c.expression for c in i.columns) for i in table.indexes}


@pytest.mark.parametrize("case", DRIZZLE_CASES)
def test_drizzle_patch_follows_the_files_indentation_and_quotes(tmp_path: Path, case: str) -> None:
    schema, expected = DRIZZLE_CASES[case]
    path = tmp_path / "schema.ts"
    path.write_text(schema)
    patch = drizzle_patch(path, ADVISED)
    assert patch.unmapped == []
    assert patch.new_text == expected
    path.write_text(patch.new_text)
    assert _index_columns(load_drizzle(path))["orders_customer_id_idx"] == ("customer_id",)


@pytest.mark.parametrize("case", PRISMA_CASES)
def test_prisma_patch_follows_the_files_indentation(tmp_path: Path, case: str) -> None:
    schema, expected = PRISMA_CASES[case]
    path = tmp_path / "schema.prisma"
    path.write_text(schema)
    patch = prisma_patch(path, ADVISED)
    assert patch.new_text == expected
    path.write_text(patch.new_text)
    assert _index_columns(load_prisma(path))["orders_customer_id_idx"] == ("customer_id",)


def test_a_sql_import_added_for_a_partial_index_uses_the_files_quotes(tmp_path: Path) -> None:
    from pgdba.advisor.candidates import Candidate

    schema, _ = DRIZZLE_CASES["four-spaces-empty-callback-single-quotes"]
    path = tmp_path / "schema.ts"
    path.write_text(schema)
    partial = Candidate("public", "orders", ("customer_id",), (), "id", None, "IS NULL")
    patch = drizzle_patch(path, [partial])
    assert "import { sql } from 'drizzle-orm'\n" in patch.new_text
    path.write_text(patch.new_text)
    assert load_drizzle(path).tables[("public", "orders")].indexes[0].predicate
