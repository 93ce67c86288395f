"""`pgdba advise indexes` end to end: JSON contract, ORM patches, --verify, --apply and input errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pgdba.advisor.advise import Advice, AdvisorOptions, advise_indexes
from pgdba.advisor.apply import refuse_unverified_apply
from pgdba.advisor.workload import WorkloadQuery
from pgdba.cli import main
from pgdba.errors import InputError
from pgdba.server import load_server_facts
from tests.conftest import TestDatabase

# autovacuum off: a vacuum between the load and the advice marks the pages all-visible, and then a covering
# (email, id) rightly beats (email) for `SELECT id … WHERE email = …`; the tests want one known state
SCHEMA = """
CREATE TABLE users (id int PRIMARY KEY, org_id int NOT NULL, created_at timestamptz NOT NULL, email text)
  WITH (autovacuum_enabled = off);
INSERT INTO users
SELECT g, g % 200, timestamptz '2024-01-01' + g * interval '1 minute', 'u' || g
  FROM generate_series(1, 20000) g;
ANALYZE users;
"""
QUERIES = (
    "SELECT * FROM users WHERE org_id = $1 AND created_at > $2;\nSELECT id FROM users WHERE email = 'u5';\n"
)
PRISMA = """model User {
  id        Int      @id
  orgId     Int      @map("org_id")
  createdAt DateTime @map("created_at")
  email     String?

  @@map("users")
}
"""
DRIZZLE = """import { pgTable, integer, timestamp, text } from "drizzle-orm/pg-core";

export const users = pgTable("users", {
  id: integer("id").primaryKey(),
  orgId: integer("org_id").notNull(),
  createdAt: timestamp("created_at", { withTimezone: true }).notNull(),
  email: text(),
});
"""


@pytest.fixture
def users_db(db: TestDatabase, tmp_path: Path) -> tuple[TestDatabase, Path]:
    db.execute(SCHEMA)
    queries = tmp_path / "workload.sql"
    queries.write_text(QUERIES)
    return db, queries


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.catalog
@pytest.mark.hypopg
def test_json_output_lists_indexes_with_their_queries(
    users_db: tuple[TestDatabase, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    db, queries = users_db
    code, out, _ = run(
        capsys, "advise", "indexes", "--dsn", db.dsn, "--queries", str(queries), "--format", "json"
    )
    assert code == 0
    data = json.loads(out)
    assert data["schema_version"] == 1
    assert sorted(i["columns"] for i in data["indexes"]) == [["email"], ["org_id", "created_at"]]
    first = next(i for i in data["indexes"] if i["columns"] == ["org_id", "created_at"])
    assert first["sql"].startswith('CREATE INDEX CONCURRENTLY IF NOT EXISTS "users_org_id_created_at_idx"')
    assert first["queries"][0]["cost_after"] < first["queries"][0]["cost_before"]
    assert data["workload"]["relative_cost"] < 0.5
    assert {f["code"] for f in data["findings"]} == {"advisor.create_index"}
    assert data["emit"]["sql"][0].endswith(";")


@pytest.mark.catalog
@pytest.mark.hypopg
def test_prisma_patch_adds_index_with_field_names(
    users_db: tuple[TestDatabase, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    db, queries = users_db
    schema = tmp_path / "schema.prisma"
    schema.write_text(PRISMA)
    args = ["advise", "indexes", "--dsn", db.dsn, "--queries", str(queries), "--emit", "prisma"]
    code, out, _ = run(capsys, *args, "--schema", str(schema), "--format", "json")
    assert code == 0
    patch = json.loads(out)["emit"]["patch"]
    assert "+  @@index([orgId, createdAt])\n" in patch
    assert "+  @@index([email])\n" in patch
    assert schema.read_text() == PRISMA  # the patch is printed, the file is left alone


@pytest.mark.catalog
@pytest.mark.hypopg
def test_drizzle_patch_adds_index_calls_and_import(
    users_db: tuple[TestDatabase, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    db, queries = users_db
    schema = tmp_path / "schema.ts"
    schema.write_text(DRIZZLE)
    args = ["advise", "indexes", "--dsn", db.dsn, "--queries", str(queries), "--emit", "drizzle"]
    code, out, _ = run(capsys, *args, "--schema", str(schema))
    assert code == 0
    assert '+  index("users_org_id_created_at_idx").on(t.orgId, t.createdAt),' in out
    assert '+  index("users_email_idx").on(t.email),' in out
    assert '+import { pgTable, integer, timestamp, text, index } from "drizzle-orm/pg-core";' in out


@pytest.mark.catalog
@pytest.mark.hypopg
def test_verify_measures_on_a_scratch_copy_and_leaves_the_target_alone(
    users_db: tuple[TestDatabase, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    db, queries = users_db
    code, out, _ = run(
        capsys,
        "advise",
        "indexes",
        "--dsn",
        db.dsn,
        "--queries",
        str(queries),
        "--verify",
        "--format",
        "json",
    )
    assert code == 0
    verification = json.loads(out)["verification"]
    assert verification["where"] == "scratch copy"
    assert len(verification["queries"]) == 2
    assert verification["after_ms"] < verification["before_ms"]
    assert {c["index"] for c in verification["created"]} == {"users_org_id_created_at_idx", "users_email_idx"}
    with db.connect() as conn:
        assert conn.execute("SELECT count(*) FROM pg_indexes WHERE tablename = 'users'").fetchone() == (1,)
        scratch = conn.execute(
            "SELECT count(*) FROM pg_database WHERE datname LIKE 'pgdba_verify_%'"
        ).fetchone()
    assert scratch == (0,)


@pytest.mark.catalog
@pytest.mark.hypopg
def test_verify_copies_enum_typed_columns_into_the_scratch_copy(
    db: TestDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db.execute(
        """CREATE SCHEMA app;
        CREATE TYPE app."Kind" AS ENUM ('SYSTEM', 'COURSE', 'PAYMENT');
        CREATE TABLE app.notice (id int PRIMARY KEY, user_id int NOT NULL, kind app."Kind" NOT NULL,
                                 kinds app."Kind"[]);
        INSERT INTO app.notice SELECT g, g % 300, (ARRAY['SYSTEM','COURSE','PAYMENT'])[1 + g % 3]::app."Kind",
                                      ARRAY['COURSE']::app."Kind"[]
          FROM generate_series(1, 20000) g;
        ANALYZE app.notice;"""
    )
    queries = tmp_path / "w.sql"
    queries.write_text("SELECT id, kind FROM app.notice WHERE user_id = $1 AND kind = 'COURSE';\n")
    code, out, err = run(
        capsys,
        "advise",
        "indexes",
        "--dsn",
        db.dsn,
        "--queries",
        str(queries),
        "--verify",
        "--format",
        "json",
    )
    assert code == 0, err
    verification = json.loads(out)["verification"]
    assert verification["where"] == "scratch copy" and verification["created"]
    assert verification["queries"][0]["before_ms"] > 0


@pytest.mark.catalog
@pytest.mark.hypopg
def test_apply_creates_the_indexes_concurrently_after_printing_them(
    users_db: tuple[TestDatabase, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    db, queries = users_db
    code, _, err = run(capsys, "advise", "indexes", "--dsn", db.dsn, "--queries", str(queries), "--apply")
    assert code == 0
    assert 'CREATE INDEX CONCURRENTLY IF NOT EXISTS "users_email_idx"' in err
    with db.connect() as conn:
        rows = conn.execute(
            "SELECT indexrelid::regclass::text FROM pg_index WHERE indrelid = 'users'::regclass AND indisvalid"
        ).fetchall()
    assert {r[0] for r in rows} == {"users_pkey", "users_org_id_created_at_idx", "users_email_idx"}


@pytest.mark.catalog
@pytest.mark.hypopg
def test_apply_without_verify_is_refused_on_large_tables(users_db: tuple[TestDatabase, Path]) -> None:
    db, _ = users_db
    with db.target.connect() as conn:
        facts = load_server_facts(conn)
        advice: Advice = advise_indexes(conn, facts, [WorkloadQuery(QUERIES.split(";")[0])], AdvisorOptions())
    advice.recommendations[0].table_bytes = 10 * 2**30
    with pytest.raises(InputError, match="--verify"):
        refuse_unverified_apply(advice, yes=False)
    refuse_unverified_apply(advice, yes=True)


def test_bad_options_are_one_line_errors(
    db: TestDatabase, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run(capsys, "advise", "indexes", "--dsn", db.dsn, "--emit", "sqlalchemy")
    assert code == 2 and err.count("\n") == 1 and "--emit" in err
    code, _, err = run(capsys, "advise", "indexes", "--dsn", db.dsn, "--emit", "prisma")
    assert code == 2 and "--schema" in err
    code, _, err = run(capsys, "advise", "indexes", "--dsn", db.dsn, "--budget-mb", "0")
    assert code == 2 and "--budget-mb" in err
    code, _, err = run(capsys, "advise", "indexes", "--dsn", db.dsn, "--static-fillfactor", "101")
    assert code == 2 and err.count("\n") == 1 and "--static-fillfactor" in err
    missing = tmp_path / "missing.sql"
    code, _, err = run(capsys, "advise", "indexes", "--dsn", db.dsn, "--queries", str(missing))
    assert code == 2 and "cannot read" in err
    junk = tmp_path / "junk.sql"
    junk.write_text("CREATE TABLE x (a int);")
    code, _, err = run(capsys, "advise", "indexes", "--dsn", db.dsn, "--queries", str(junk))
    assert code == 2 and "no SELECT" in err


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--budget-mb", "nan", "'nan' is not a finite number"),
        ("--budget-mb", "inf", "'inf' is not a finite number"),
        ("--min-improvement", "-1", "-1 should be ≥ 0"),
        ("--min-mean-ms", "1e400", "is not a finite number"),
    ],
)
def test_non_finite_and_out_of_range_numbers_are_usage_errors(
    db: TestDatabase, capsys: pytest.CaptureFixture[str], option: str, value: str, message: str
) -> None:
    code, out, err = run(capsys, "advise", "indexes", "--dsn", db.dsn, option, value)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and option in err and message in err
    assert "(see pgdba advise indexes --help)" in err


def test_unusable_input_files_are_refused_before_connecting(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # an unreachable server: each error below must come from the file check, before any connection
    dsn = "postgresql://advisor:S3cret-Pw@127.0.0.1:1/none"
    binary = tmp_path / "binary.sql"
    binary.write_bytes(b"SELECT 1;\n\xff\xfe\x00garbage")
    code, _, err = run(capsys, "advise", "indexes", "--dsn", dsn, "--queries", str(binary))
    assert code == 2 and f"--queries file {binary} is not UTF-8 text (byte 0xff at offset 10)" in err
    code, _, err = run(capsys, "advise", "indexes", "--dsn", dsn, "--queries", str(tmp_path))
    assert code == 2 and "it is a directory" in err
    queries = tmp_path / "workload.sql"
    queries.write_text("SELECT 1;")
    unclosed = tmp_path / "unclosed.prisma"
    unclosed.write_text("model User {\n  id Int @id\n")
    empty = tmp_path / "empty.prisma"
    empty.write_text("// nothing yet\n")
    drizzle = tmp_path / "schema.ts"
    drizzle.write_text('import { pgTable } from "drizzle-orm/pg-core";\nexport const t = pgTable("t", {\n')
    cases = [
        (["--emit", "prisma", "--schema", str(unclosed)], f"{unclosed}:3:1: expected '}}'"),
        (["--emit", "prisma", "--schema", str(empty)], f"schema file {empty} declares no Prisma model"),
        (["--emit", "drizzle", "--schema", str(unclosed)], f"{unclosed}:1:"),
        (["--emit", "drizzle", "--schema", str(drizzle)], f"{drizzle}:"),
        (["--schema", str(unclosed)], "--schema FILE is patched only with --emit prisma or --emit drizzle"),
    ]
    for extra, message in cases:
        code, out, err = run(capsys, "advise", "indexes", "--dsn", dsn, "--queries", str(queries), *extra)
        assert code == 2 and out == "" and err.count("\n") == 1, (extra, err)
        assert message in err and "cannot connect" not in err, (extra, err)
        assert "S3cret-Pw" not in err


@pytest.mark.hypopg
def test_a_table_locked_by_ddl_is_one_line_saying_so(
    users_db: tuple[TestDatabase, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    db, queries = users_db
    with db.connect(autocommit=False) as migration:
        migration.execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
        code, out, err = run(capsys, "advise", "indexes", "--dsn", db.dsn, "--queries", str(queries))
        migration.rollback()
    assert code == 2 and out == "" and err.count("\n") == 1
    # its only table is locked: no lock is waited for, the error names it (tests/advisor/test_locked_tables.py)
    assert "ACCESS EXCLUSIVE lock" in err and "public.users" in err and "DDL in flight" in err
