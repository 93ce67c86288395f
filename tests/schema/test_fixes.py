"""Every schema finding carries its fix: which side to change and how, in both directions, with SQL for the
live side that (applied to the real server) makes the drift go away, and the ORM's own words for the other."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pglast
import pytest
from oracle_models import drizzle_kit_generate, prisma_dmmf
from schema_test_paths import ROOT
from test_live import DRIZZLE_FOLDER, MUTATIONS

from pgdba.cli import main
from pgdba.findings import Finding
from pgdba.schema import check_schemas

DEMO = ROOT / "pgdba" / "demo"
DRIFTED = f"prisma:{DEMO / 'drifted' / 'schema.prisma'}"
# what SQL cannot put right on the live side: a table needs the ORM's migration, enum values cannot be dropped
NO_LIVE_SQL = {"table dropped", "enum value added", "enum value renamed"}


@pytest.fixture(scope="module")
def drizzle_ddl(tmp_path_factory: pytest.TempPathFactory, node_modules: Path) -> str:
    """The DDL drizzle-kit generates for the fixture folder the mutations start from."""
    workdir = tmp_path_factory.mktemp("drizzle-kit")
    (workdir / "node_modules").symlink_to(node_modules)
    shutil.copytree(DRIZZLE_FOLDER, workdir / "schema")
    return drizzle_kit_generate(workdir)[1]


def _apply(db: Any, sql: str) -> None:
    with db.connect() as conn:  # autocommit: CREATE INDEX CONCURRENTLY and ALTER TYPE … ADD VALUE need it
        for statement in pglast.split(sql):
            conn.execute(statement)  # type: ignore[arg-type]


def _options(finding: Finding) -> set[str]:
    """The sides the recommendation tells how to change ("in prisma: ", "in live: ")."""
    text = finding.recommendation.removeprefix("either ")
    return {option.split(": ", 1)[0] + ": " for option in text.split("; or ")}


def _drizzle_drift(db: Any) -> list[Finding]:
    return check_schemas([f"drizzle:{DRIZZLE_FOLDER}", "live"], dsn=db.dsn).pairs[0].drift


@pytest.mark.catalog
def test_every_drifted_demo_finding_has_a_fix_and_its_sql_removes_the_drift(db: Any) -> None:
    db.execute((DEMO / "schema.sql").read_text())
    drift = check_schemas([DRIFTED, "live"], dsn=db.dsn).pairs[0].drift
    assert len(drift) == 10
    for finding in drift:
        assert finding.recommendation.startswith("either in "), finding.code
        assert {"in prisma: ", "in live: "} <= _options(finding), finding.code
    without_sql = [f.code for f in drift if f.sql is None]
    assert without_sql == ["schema.table.missing"]  # Coupon: created by the ORM's migration tool
    for finding in drift:
        if finding.sql:
            _apply(db, finding.sql)
    after = check_schemas([DRIFTED, "live"], dsn=db.dsn).pairs[0].drift
    assert [(f.code, f.object) for f in after] == [("schema.table.missing", "Coupon")]


@pytest.mark.catalog
def test_drifted_demo_fixes_speak_prisma_and_sql(db: Any) -> None:
    db.execute((DEMO / "schema.sql").read_text())
    drift = {f.code: f for f in check_schemas([DRIFTED, "live"], dsn=db.dsn).pairs[0].drift}
    nullable = drift["schema.column.nullable"]
    assert "make the field optional: `description String?`" in nullable.recommendation
    assert "SET NOT NULL after checking no NULLs exist" in nullable.recommendation
    assert nullable.sql is not None and nullable.sql.endswith(
        'ALTER TABLE "Course" ALTER COLUMN "description" SET NOT NULL;'
    )
    assert "`locale String @db.VarChar(10)`" in drift["schema.column.type"].recommendation
    assert '`@default("UTC")`' in drift["schema.column.default"].recommendation
    assert drift["schema.column.default"].sql == (
        'ALTER TABLE "Profile" ALTER COLUMN "timezone" SET DEFAULT \'Europe/Paris\';'
    )
    assert '`@@unique([slug], map: "Course_slug_key")`' in drift["schema.unique.missing"].recommendation
    assert drift["schema.unique.missing"].sql == 'DROP INDEX CONCURRENTLY "public"."Course_slug_key";'
    assert (
        '`@@index([categoryId], map: "Course_categoryId_idx")`'
        in drift["schema.index.missing"].recommendation
    )
    assert "onDelete: Cascade, onUpdate: Cascade)" in drift["schema.foreign_key.action"].recommendation
    assert "ON DELETE RESTRICT ON UPDATE CASCADE NOT VALID" in (drift["schema.foreign_key.action"].sql or "")
    assert drift["schema.enum.values"].sql == "ALTER TYPE \"Role\" ADD VALUE 'GUEST' AFTER 'ADMIN';"
    assert "remove the field `password`" not in drift["schema.column.renamed"].recommendation
    assert '@map("passwordHash")' in drift["schema.column.renamed"].recommendation
    assert "destructive" in (drift["schema.column.missing"].sql or "")  # dropping Profile.bio loses data


@pytest.mark.catalog
@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_each_finding_kind_is_fixed_by_its_live_sql(mutation: str, db: Any, drizzle_ddl: str) -> None:
    statement, code, _obj = MUTATIONS[mutation]
    db.execute(drizzle_ddl)
    _apply(db, statement)
    [finding] = _drizzle_drift(db)
    assert finding.code == code
    assert {"in drizzle: ", "in live: "} <= _options(finding), finding.recommendation
    if mutation in NO_LIVE_SQL:
        assert finding.sql is None
        return
    assert finding.sql is not None
    _apply(db, finding.sql)
    assert _drizzle_drift(db) == []


@pytest.mark.catalog
def test_fixes_when_live_is_the_left_source_still_change_live_toward_the_orm(db: Any) -> None:
    db.execute((DEMO / "schema.sql").read_text())
    drift = check_schemas(["live", DRIFTED], dsn=db.dsn).pairs[0].drift
    nullable = next(f for f in drift if f.code == "schema.column.nullable")
    assert nullable.recommendation.startswith("either in live: SET NOT NULL")
    assert nullable.sql is not None and "SET NOT NULL" in nullable.sql


@pytest.mark.catalog
def test_enum_missing_and_enum_order_fixes(db: Any, tmp_path: Path) -> None:
    prisma = tmp_path / "schema.prisma"
    prisma.write_text(
        'datasource db {\n  provider = "postgresql"\n}\n'
        "enum Level {\n  LOW\n  HIGH\n}\n"
        "enum Mood {\n  HAPPY\n  SAD\n}\n"
        'model T {\n  id Int @id(map: "T_pkey")\n  level Level\n}\n'
    )
    db.execute(
        'CREATE TYPE "Level" AS ENUM (\'HIGH\', \'LOW\'); CREATE TABLE "T" (id int PRIMARY KEY, level "Level" NOT NULL)'
    )
    drift = {f.code: f for f in check_schemas([f"prisma:{prisma}", "live"], dsn=db.dsn).pairs[0].drift}
    assert set(drift) == {"schema.enum.missing", "schema.enum.order"}
    missing = drift["schema.enum.missing"]
    assert "remove the enum Mood" in missing.recommendation
    assert missing.sql == "CREATE TYPE \"Mood\" AS ENUM ('HAPPY', 'SAD');"
    order = drift["schema.enum.order"]
    assert "list the values HIGH, LOW in `enum Level`" in order.recommendation
    assert "cannot drop or reorder enum values" in order.recommendation and order.sql is None
    _apply(db, missing.sql)
    left = [f.code for f in check_schemas([f"prisma:{prisma}", "live"], dsn=db.dsn).pairs[0].drift]
    assert left == ["schema.enum.order"]


@pytest.mark.catalog
def test_text_and_markdown_reports_print_the_fix_under_each_finding(
    db: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    db.execute((DEMO / "schema.sql").read_text())
    assert main(["schema", "check", DRIFTED, "live", "--dsn", db.dsn]) == 1
    out = capsys.readouterr().out
    lines = out.splitlines()
    at = lines.index("   ❌ Course.description: NOT NULL in prisma, nullable in live")
    assert lines[at + 1].startswith(
        "      ↳ either in prisma: make the field optional: `description String?`"
    )
    assert '        ALTER TABLE "Course" ALTER COLUMN "description" SET NOT NULL;' in lines[at + 2 : at + 6]
    assert main(["schema", "check", DRIFTED, "live", "--dsn", db.dsn, "--format", "markdown"]) == 1
    markdown = capsys.readouterr().out
    assert "  - fix: either in prisma: make the field optional" in markdown
    assert '    ALTER TABLE "Course" ALTER COLUMN "description" SET NOT NULL;' in markdown
    assert "    ```sql" in markdown


@pytest.mark.catalog
def test_drizzle_findings_name_the_table_by_database_name_with_the_variable_in_brackets(db: Any) -> None:
    db.execute((DEMO / "schema.sql").read_text())
    db.execute(
        'ALTER TABLE "Course" ALTER COLUMN description SET NOT NULL; ALTER TABLE "Course" ADD COLUMN extra text'
    )
    drift = check_schemas([f"drizzle:{DEMO / 'schema.ts'}", "live"], dsn=db.dsn).pairs[0].drift
    titles = sorted(f.title for f in drift)
    assert titles == [
        "Course.description [drizzle: course.description]: nullable in drizzle, NOT NULL in live",
        "column Course.extra (text) is in live, missing in drizzle",
    ]
    nullable = next(f for f in drift if f.code == "schema.column.nullable")
    assert "in drizzle: add `.notNull()` to `description`" in nullable.recommendation
    assert nullable.sql == 'ALTER TABLE "Course" ALTER COLUMN "description" DROP NOT NULL;'
    missing = next(f for f in drift if f.code == "schema.column.missing")
    assert 'in drizzle: add `extra: text("extra")` to the pgTable' in missing.recommendation


SHOP_DRIZZLE = """import { pgTable, integer, text, index } from "drizzle-orm/pg-core";

export const accounts = pgTable("account", {
  accountId: integer("account_id").primaryKey(),
  tenantId: integer("tenant_id").notNull(),
  email: text("email").notNull(),
});

export const orders = pgTable("orders", {
  id: integer("id").primaryKey(),
  buyerId: integer("buyer_id").notNull(),
});
"""
SHOP_PRISMA = """datasource db {
  provider = "postgresql"
}

model Account {
  accountId Int    @id @map("account_id")
  tenantId  Int    @map("tenant_id")
  email     String

  @@map("account")
}

model Order {
  id      Int @id
  buyerId Int @map("buyer_id")

  @@map("orders")
}
"""


@pytest.mark.catalog
def test_an_orm_declaration_of_a_live_only_index_or_key_uses_the_orms_own_names(
    db: Any, tmp_path: Path
) -> None:
    """The declaration for the source without the index or key names its fields and models, not the
    database's columns and tables (`t.tenantId`, `accounts.accountId`: `t.tenant_id` would not compile)."""
    db.execute(
        "CREATE TABLE account (account_id int PRIMARY KEY, tenant_id int NOT NULL, email text NOT NULL);"
        "CREATE TABLE orders (id int PRIMARY KEY, buyer_id int NOT NULL REFERENCES account (account_id));"
        "CREATE INDEX account_tenant_id_email_idx ON account (tenant_id, email)"
    )
    (tmp_path / "schema.ts").write_text(SHOP_DRIZZLE)
    (tmp_path / "schema.prisma").write_text(SHOP_PRISMA)
    texts = {}
    for kind in ("drizzle", "prisma"):
        source = f"{kind}:{tmp_path / ('schema.ts' if kind == 'drizzle' else 'schema.prisma')}"
        drift = check_schemas([source, "live"], dsn=db.dsn).pairs[0].drift
        texts[kind] = sorted(f.recommendation.split("; or ")[0] for f in drift)
    assert texts["drizzle"] == [
        'either in drizzle: add `index("account_tenant_id_email_idx").on(t.tenantId, t.email)`',
        'either in drizzle: declare the relation: `.references(() => accounts.accountId, { onDelete: "no action",'
        ' onUpdate: "no action" })` on `buyerId`',
    ]
    assert texts["prisma"] == [
        'either in prisma: add `@@index([tenantId, email], map: "account_tenant_id_email_idx")`',
        "either in prisma: declare the relation: `@relation(fields: [buyerId], references: [accountId],"
        " onDelete: NoAction, onUpdate: NoAction)`",
    ]


PARTITIONED_LIVE = """
CREATE TABLE "Course" (id int PRIMARY KEY);
INSERT INTO "Course" SELECT generate_series(1, 10);
CREATE TABLE "Log" (id int NOT NULL, at timestamp(6) NOT NULL, "courseId" int NOT NULL,
                    CONSTRAINT "Log_pkey" PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
CREATE TABLE "Log_2024" PARTITION OF "Log" FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
INSERT INTO "Log" SELECT g, timestamp '2024-01-01' + g * interval '1 hour', 1 + g % 10
  FROM generate_series(1, 1000) g;
"""
PARTITIONED_PRISMA = """datasource db {
  provider = "postgresql"
}
model Course {
  id   Int   @id(map: "Course_pkey")
  logs Log[]
}
model Log {
  id       Int
  at       DateTime @db.Timestamp(6)
  courseId Int
  course   Course   @relation(fields: [courseId], references: [id], onDelete: Cascade, onUpdate: Cascade, map: "Log_courseId_fkey")

  @@id([id, at], map: "Log_pkey")
}
"""


@pytest.mark.catalog
@pytest.mark.parametrize(
    ("live_key", "code"),
    [
        ("", "schema.foreign_key.missing"),
        (
            'ALTER TABLE "Log" ADD CONSTRAINT "Log_courseId_fkey" FOREIGN KEY ("courseId") REFERENCES "Course" (id)',
            "schema.foreign_key.action",
        ),
    ],
)
def test_a_foreign_key_fix_on_a_partitioned_table_runs_without_not_valid(
    db: Any, tmp_path: Path, live_key: str, code: str
) -> None:
    # PostgreSQL before 18 refuses a NOT VALID foreign key on a partitioned table
    prisma = tmp_path / "schema.prisma"
    prisma.write_text(PARTITIONED_PRISMA)
    db.execute(PARTITIONED_LIVE + live_key)
    drift = check_schemas([f"prisma:{prisma}", "live"], dsn=db.dsn).pairs[0].drift
    assert {f.code for f in drift} == {code}
    fix = drift[0].sql
    assert fix is not None and "NOT VALID;" not in fix and "VALIDATE" not in fix
    assert "checks every row" in fix
    # recreated inside the transaction that drops the old key, whose lock holds reads back as well
    assert ("reads wait too" in fix) == (code == "schema.foreign_key.action")
    _apply(db, fix)
    assert check_schemas([f"prisma:{prisma}", "live"], dsn=db.dsn).pairs[0].drift == []


@pytest.mark.catalog
def test_a_recreated_constraint_is_validated_after_the_transaction_that_swaps_it(db: Any) -> None:
    # inside the transaction, DROP CONSTRAINT's ACCESS EXCLUSIVE lock would hold every read and write of the
    # table back for as long as the validation scans it
    db.execute((DEMO / "schema.sql").read_text())
    drift = {f.code: f for f in check_schemas([DRIFTED, "live"], dsn=db.dsn).pairs[0].drift}
    fix = drift["schema.foreign_key.action"].sql
    assert fix is not None
    statements = [s.strip() for s in pglast.split(fix)]
    assert [
        s.split(" ", 2)[0] + (" " + s.split(" ")[3] if s.startswith("ALTER") else "") for s in statements
    ] == [
        "BEGIN",
        "ALTER DROP",
        "ALTER ADD",
        "COMMIT",
        "ALTER VALIDATE",
    ]
    name = statements[1].split("DROP CONSTRAINT ")[1].strip('";')
    validated = "SELECT convalidated FROM pg_constraint WHERE conname = %s"
    with db.connect() as conn:
        for statement in statements[:4]:
            conn.execute(statement)  # type: ignore[arg-type]
        # between the swap and the validation the key holds for new rows, not yet proven for old ones
        assert conn.execute(validated, (name,)).fetchone() == (False,)
        conn.execute(statements[4])  # type: ignore[arg-type]
        assert conn.execute(validated, (name,)).fetchone() == (True,)


@pytest.mark.catalog
def test_an_index_fix_on_a_partitioned_table_builds_it_without_blocking_writes_and_drops_it_plainly(
    db: Any, tmp_path: Path
) -> None:
    # PostgreSQL refuses CREATE INDEX CONCURRENTLY and DROP INDEX CONCURRENTLY on a partitioned table
    prisma = tmp_path / "schema.prisma"
    prisma.write_text(
        PARTITIONED_PRISMA.replace(
            '@@id([id, at], map: "Log_pkey")',
            '@@id([id, at], map: "Log_pkey")\n  @@index([courseId, at(sort: Desc)], map: "Log_courseId_at_idx")',
        )
    )
    db.execute(
        PARTITIONED_LIVE
        + 'ALTER TABLE "Log" ADD CONSTRAINT "Log_courseId_fkey" FOREIGN KEY ("courseId") REFERENCES "Course" (id)'
        " ON DELETE CASCADE ON UPDATE CASCADE;"
        "CREATE TABLE \"Log_2025\" PARTITION OF \"Log\" FOR VALUES FROM ('2025-01-01') TO ('2026-01-01')"
        " PARTITION BY RANGE (at);"
        "CREATE TABLE \"Log_2025_h1\" PARTITION OF \"Log_2025\" FOR VALUES FROM ('2025-01-01') TO ('2025-07-01');"
        'CREATE INDEX "Log_id_idx" ON "Log" (id);'  # live only
    )
    missing = check_schemas([f"prisma:{prisma}", "live"], dsn=db.dsn).pairs[0].drift
    assert len(missing) == 2
    create = next(f.sql for f in missing if f.sql and "Log_courseId_at_idx" in f.sql)
    drop = next(f.sql for f in missing if f.sql and "Log_id_idx" in f.sql)
    assert [line for line in create.splitlines() if not line.startswith("--")] == [
        'CREATE INDEX "Log_courseId_at_idx" ON ONLY "Log" ("courseId", "at" DESC);',
        'CREATE INDEX CONCURRENTLY "Log_2024_courseId_at_idx" ON "public"."Log_2024" ("courseId", "at" DESC);',
        'ALTER INDEX "public"."Log_courseId_at_idx" ATTACH PARTITION "public"."Log_2024_courseId_at_idx";',
        'CREATE INDEX "Log_2025_courseId_at_idx" ON ONLY "public"."Log_2025" ("courseId", "at" DESC);',
        'ALTER INDEX "public"."Log_courseId_at_idx" ATTACH PARTITION "public"."Log_2025_courseId_at_idx";',
        'CREATE INDEX CONCURRENTLY "Log_2025_h1_courseId_at_idx" ON "public"."Log_2025_h1" ("courseId", "at" DESC);',
        'ALTER INDEX "public"."Log_2025_courseId_at_idx" ATTACH PARTITION "public"."Log_2025_h1_courseId_at_idx";',
    ]
    assert [line for line in drop.splitlines() if not line.startswith("--")] == [
        'DROP INDEX "public"."Log_id_idx";'
    ]
    _apply(db, create)
    _apply(db, drop)
    assert check_schemas([f"prisma:{prisma}", "live"], dsn=db.dsn).pairs[0].drift == []
    with db.connect() as conn:
        valid = conn.execute(
            "SELECT indisvalid FROM pg_index WHERE indexrelid = '\"Log_courseId_at_idx\"'::regclass"
        )
        assert valid.fetchone() == (True,)


@pytest.mark.catalog
def test_an_orm_fix_quotes_a_name_that_holds_quotes_so_it_can_be_pasted(
    db: Any, tmp_path: Path, node_modules: Path
) -> None:
    """A live index named `idx "quoted" name`: the Prisma attribute the fix gives, pasted into the model,
    parses (Prisma's own parser reads the name) and ends the drift (it wrote `map: "idx "quoted" name"`, which
    no parser reads)."""
    model = 'model T {\n  id Int @id(map: "T_pkey")\n  n  Int\n%s}\n'
    prisma = tmp_path / "schema.prisma"
    prisma.write_text('datasource db {\n  provider = "postgresql"\n}\n' + model % "")
    db.execute(
        'CREATE TABLE "T" (id int PRIMARY KEY, n int NOT NULL); CREATE INDEX "idx ""quoted"" name" ON "T" (n)'
    )
    [finding] = check_schemas([f"prisma:{prisma}", "live"], dsn=db.dsn).pairs[0].drift
    attribute = finding.recommendation.split("add `", 1)[1].split("`", 1)[0]
    assert attribute == '@@index([n], map: "idx \\"quoted\\" name")'

    prisma.write_text('datasource db {\n  provider = "postgresql"\n}\n' + model % f"  {attribute}\n")

    indexes = prisma_dmmf(node_modules, prisma)["indexes"]
    assert [i["dbName"] for i in indexes if i["type"] == "normal"] == ['idx "quoted" name']
    assert check_schemas([f"prisma:{prisma}", "live"], dsn=db.dsn).pairs[0].drift == []
