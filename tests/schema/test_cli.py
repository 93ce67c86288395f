"""`pgdba schema check`: the human report, JSON, exit codes 0 / 1 / 2, config file with ignore rules and
equivalence switches, the rename heuristic, bookkeeping tables."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from schema_test_paths import ROOT

from pgdba.cli import main

PRISMA = """
datasource db {
  provider = "postgresql"
}

enum Role {
  STUDENT
  ADMIN
}

model User {
  id        Int      @id @default(autoincrement())
  email     String   @unique
  password  String
  role      Role     @default(STUDENT)
  createdAt DateTime @default(now())
}
"""

LIVE_DDL = """
CREATE TYPE "Role" AS ENUM ('STUDENT', 'ADMIN');
CREATE TABLE "User" (
    "id" SERIAL NOT NULL,
    "email" TEXT NOT NULL,
    "passwordHash" TEXT NOT NULL,
    "role" "Role" NOT NULL DEFAULT 'STUDENT',
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "User_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX "User_email_key" ON "User"("email");
CREATE TABLE "_prisma_migrations" (id text PRIMARY KEY, checksum text);
"""


@pytest.fixture
def prisma_file(tmp_path: Path) -> Path:
    path = tmp_path / "schema.prisma"
    path.write_text(PRISMA)
    return path


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["schema", "check", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_consistent_sources_exit_zero_with_the_seed_style_report(
    prisma_file: Path, db: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    db.execute(LIVE_DDL.replace('"passwordHash"', '"password"'))
    code, out, _ = _run([f"prisma:{prisma_file}", "live", "--dsn", db.dsn], capsys)
    assert code == 0
    assert "prisma ↔ live: ✅ consistent (1 tables, 5 columns, 1 indexes/uniques, 1 enums compared)" in out
    assert "✅ 100% SCHEMA CONSISTENCY — all 2 sources agree" in out


def test_rename_is_reported_as_probably_a_rename_and_exits_one(
    prisma_file: Path, db: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    db.execute(LIVE_DDL)
    code, out, _ = _run([f"prisma:{prisma_file}", "live", "--dsn", db.dsn], capsys)
    assert code == 1
    assert "❌ User: `password` in prisma, `passwordHash` in live — probably a rename" in out
    assert "❌ SCHEMA DRIFT — 1 difference in 1 of 1 source pairs" in out
    assert "_prisma_migrations" not in out


def test_json_output_is_versioned_and_lists_findings(
    prisma_file: Path, db: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    db.execute(LIVE_DDL)
    code, out, _ = _run([f"prisma:{prisma_file}", "live", "--dsn", db.dsn, "--format", "json"], capsys)
    data = json.loads(out)
    assert code == 1
    assert data["schema_version"] == 1 and data["consistent"] is False
    assert [s["kind"] for s in data["sources"]] == ["prisma", "live"]
    finding = data["pairs"][0]["findings"][0]
    assert finding["code"] == "schema.column.renamed"
    assert finding["object"] == "User.password"
    assert finding["metrics"] == {"left": "password", "right": "passwordHash"}


def test_ignore_rules_in_the_config_file(
    prisma_file: Path, db: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db.execute(LIVE_DDL)
    config = tmp_path / "pgdba-schema.toml"
    config.write_text('[schema]\nignore = ["column:User.password*"]\n')
    code, out, _ = _run([f"prisma:{prisma_file}", "live", "--dsn", db.dsn, "--config", str(config)], capsys)
    assert code == 0
    assert f"(1 finding ignored by ignore rules ({config}))" in out


def test_ignore_rule_on_the_command_line(
    prisma_file: Path, db: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    db.execute(LIVE_DDL)
    code, out, _ = _run(
        [f"prisma:{prisma_file}", "live", "--dsn", db.dsn, "--ignore", "schema.column.renamed:User.*"], capsys
    )
    assert code == 0
    assert "(1 finding ignored by ignore rules)" in out
    code, _, err = _run([f"prisma:{prisma_file}", "live", "--dsn", db.dsn, "--ignore", "nonsense"], capsys)
    assert code == 2 and "ignore rule 'nonsense': use KIND:PATTERN" in err


def test_unique_index_vs_constraint_is_configurable(
    prisma_file: Path, db: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db.execute(LIVE_DDL.replace('"passwordHash"', '"password"'))
    db.execute(
        'DROP INDEX "User_email_key"; ALTER TABLE "User" ADD CONSTRAINT "User_email_key" UNIQUE ("email")'
    )
    code, out, _ = _run([f"prisma:{prisma_file}", "live", "--dsn", db.dsn, "-v"], capsys)
    assert code == 0
    assert "is a unique index in prisma, a UNIQUE constraint in live (equivalent)" in out
    strict = tmp_path / "strict.toml"
    strict.write_text("[schema]\nunique_index_equals_constraint = false\n")
    code, out, _ = _run([f"prisma:{prisma_file}", "live", "--dsn", db.dsn, "--config", str(strict)], capsys)
    assert code == 1
    assert "unique index User_email_key (email) on User is in prisma, missing in live" in out


def test_parse_error_exits_two_with_file_line_and_column(
    prisma_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.prisma"
    broken.write_text("model User {\n  id Int @id @default(\n}\n")
    code, out, err = _run([f"prisma:{broken}", f"prisma:{prisma_file}"], capsys)
    assert code == 2 and out == ""
    assert err == f"pgdba: error: {broken}:3:1: expected a value, found '}}'\n"


def test_connection_error_exits_two_without_the_password(
    prisma_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _run(
        [f"prisma:{prisma_file}", "live:postgresql://u:s3cret@127.0.0.1:1/x?connect_timeout=2"], capsys
    )
    assert code == 2
    assert err.startswith("pgdba: error: cannot connect to postgresql://u:***@127.0.0.1:1/x")
    assert "s3cret" not in err and err.count("\n") == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["prisma:x.prisma"], "give at least two sources"),
        (["mysql:x", "live"], "unknown source 'mysql:x'"),
        (
            ["prisma:/nonexistent/schema.prisma", "prisma:/nonexistent/b.prisma"],
            "no Prisma schema at /nonexistent/schema.prisma",
        ),
        (["sqlalchemy:no_such_module:Base", "prisma:x"], "cannot import no_such_module"),
    ],
)
def test_bad_sources_exit_two(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(args, capsys)
    assert code == 2
    assert message in err


def test_markdown_format(prisma_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    other = tmp_path / "other.prisma"
    other.write_text(PRISMA.replace("  password  String\n", "  password  String?\n"))
    code, out, _ = _run([f"prisma:{prisma_file}", f"prisma:{other}", "--format", "markdown"], capsys)
    assert code == 1
    assert "### prisma#1 ↔ prisma#2: ❌ 1 differences" in out
    assert (
        "- **critical** `schema.column.nullable` User.password: NOT NULL in prisma#1, nullable in prisma#2"
        in out
    )


def test_pre_commit_hook_runs_the_schema_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import yaml

    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    hook = next(h for h in hooks if h["id"] == "pgdba-schema-check")
    assert hook["entry"] == "pgdba schema check" and hook["pass_filenames"] is False
    assert re.search(hook["files"], "prisma/schema.prisma") and re.search(hook["files"], "src/db/schema.ts")
    changed = tmp_path / "changed.prisma"
    changed.write_text(PRISMA.replace("  role      Role", "  role      Role?"))
    original = tmp_path / "schema.prisma"
    original.write_text(PRISMA)
    argv = hook["entry"].split()[1:]
    assert main([*argv, f"prisma:{original}", f"prisma:{original}"]) == 0
    assert main([*argv, f"prisma:{original}", f"prisma:{changed}"]) == 1
    assert "User.role: NOT NULL in prisma#1, nullable in prisma#2" in capsys.readouterr().out
