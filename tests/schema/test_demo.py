"""The demo's four schema descriptions agree, and its drifted variant is reported with every planted
difference (one of each kind)."""

from __future__ import annotations

from typing import Any

from schema_test_paths import ROOT

from pgdba.schema import check_schemas

DEMO = ROOT / "pgdba" / "demo"

PLANTED = [
    ("schema.column.nullable", "Course.description"),
    ("schema.column.type", "Profile.locale"),
    ("schema.column.default", "Profile.timezone"),
    ("schema.column.missing", "Profile.bio"),
    ("schema.column.renamed", "User.password"),
    ("schema.enum.values", "Role"),
    ("schema.foreign_key.action", "Module.Module_courseId_fkey"),
    ("schema.index.missing", "Course.Course_categoryId_idx"),
    ("schema.table.missing", "Coupon"),
    ("schema.unique.missing", "Course.Course_slug_key"),
]


def test_demo_prisma_drizzle_sqlalchemy_and_live_are_consistent(db: Any) -> None:
    db.execute((DEMO / "schema.sql").read_text())
    result = check_schemas(
        [
            f"prisma:{DEMO / 'schema.prisma'}",
            f"drizzle:{DEMO / 'schema.ts'}",
            "sqlalchemy:pgdba.demo.models:Base",
            "live",
        ],
        dsn=db.dsn,
    )
    assert [s.notes for s in result.sources] == [[], [], [], []]
    assert len(result.pairs) == 6
    for pair in result.pairs:
        assert [f.title for f in pair.drift] == [], (pair.left.label, pair.right.label)
        assert pair.compared.tables == len(pair.left.tables) >= 15
        assert pair.compared.foreign_keys > 0 and pair.compared.enums > 0
    assert result.consistent


def test_demo_drifted_variant_reports_every_planted_difference(db: Any) -> None:
    db.execute((DEMO / "schema.sql").read_text())
    result = check_schemas([f"prisma:{DEMO / 'drifted' / 'schema.prisma'}", "live"], dsn=db.dsn)
    found = sorted((f.code, f.object) for f in result.pairs[0].drift)
    assert found == sorted(PLANTED)
    planted_lines = (DEMO / "drifted" / "schema.prisma").read_text().count("DRIFT")
    assert planted_lines == len(PLANTED)
