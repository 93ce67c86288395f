"""drizzle-kit reads the advisor's Drizzle patches, indented as their files are, into the advised index."""

from __future__ import annotations

from pathlib import Path

import pytest
from oracle_models import drizzle_kit_generate

from pgdba.advisor.orm_patch import drizzle_patch
from tests.advisor.orm_indentation_cases import ADVISED, DRIZZLE_CASES


@pytest.mark.parametrize("case", DRIZZLE_CASES)
def test_drizzle_kit_reads_the_indented_patch_into_the_advised_index(
    drizzle_workdir: Path, case: str
) -> None:
    schema = drizzle_workdir / "schema" / "schema.ts"
    schema.write_text(DRIZZLE_CASES[case][0])
    schema.write_text(drizzle_patch(schema, ADVISED).new_text)
    snapshot, migration = drizzle_kit_generate(drizzle_workdir)
    indexes = snapshot["tables"]["public.orders"]["indexes"]
    assert [c["expression"] for c in indexes["orders_customer_id_idx"]["columns"]] == ["customer_id"]
    assert 'CREATE INDEX "orders_customer_id_idx" ON "orders"' in migration
