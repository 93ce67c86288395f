"""A schema source that declares nothing to compare (an empty Prisma file, a Drizzle file without a
pgTable, a SQLAlchemy MetaData without a table) is a one-line input error, exit 2 — not a drift report
calling every live table missing and proposing a DROP TABLE for each."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from pgdba.api.app import create_app
from pgdba.api.settings import ApiSettings
from pgdba.api.startup_checks import check_served_files
from pgdba.cli import main
from pgdba.errors import InputError
from tests.conftest import TestDatabase

_DRIZZLE_IMPORT = 'import { pgEnum, pgTable, integer } from "drizzle-orm/pg-core";\n'


def _schema_check(capsys: pytest.CaptureFixture[str], source: str, dsn: str) -> tuple[int, str, str]:
    code = main(["schema", "check", source, "live", "--dsn", dsn])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def live(db: TestDatabase) -> TestDatabase:
    """A database with one table, which an empty source would call missing."""
    db.execute("CREATE TABLE lesson (id int PRIMARY KEY)")
    return db


@pytest.mark.parametrize(
    "text",
    [
        "",
        'datasource db {\n  provider = "postgresql"\n  url = env("DATABASE_URL")\n}\n\nenum Role {\n  ADMIN\n}\n',
    ],
    ids=["empty", "datasource-and-enum-only"],
)
def test_a_prisma_file_without_a_model_is_refused_in_one_line(
    text: str, live: TestDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    schema = tmp_path / "empty.prisma"
    schema.write_text(text)
    code, out, err = _schema_check(capsys, f"prisma:{schema}", live.dsn)
    assert (code, out) == (2, "")
    assert err == f"pgdba: error: schema file {schema} declares no Prisma model\n"


def test_a_prisma_folder_without_a_model_is_refused(
    live: TestDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "base.prisma").write_text("")
    code, out, err = _schema_check(capsys, f"prisma:{tmp_path}", live.dsn)
    assert (code, out) == (2, "")
    assert err == f"pgdba: error: schema folder {tmp_path} declares no Prisma model\n"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "export const answer = 42;\n",
        _DRIZZLE_IMPORT + 'export const role = pgEnum("role", ["admin"]);\n',
        _DRIZZLE_IMPORT + 'const lesson = pgTable("lesson", { id: integer("id") });\n',  # not exported
    ],
    ids=["empty", "no-drizzle", "enum-only", "table-not-exported"],
)
def test_a_drizzle_file_without_an_exported_pgtable_is_refused_in_one_line(
    text: str, live: TestDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    schema = tmp_path / "schema.ts"
    schema.write_text(text)
    code, out, err = _schema_check(capsys, f"drizzle:{schema}", live.dsn)
    assert (code, out) == (2, "")
    assert err == (
        f"pgdba: error: schema file {schema} declares no Drizzle pgTable "
        "(pgdba, like drizzle-kit, reads exported ones only)\n"
    )


def test_a_sqlalchemy_metadata_without_a_table_is_refused_in_one_line(
    live: TestDatabase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    module = f"models_{uuid.uuid4().hex[:8]}"  # a new name: an imported module stays in sys.modules
    (tmp_path / f"{module}.py").write_text(
        "from sqlalchemy.orm import DeclarativeBase\n\n\nclass Base(DeclarativeBase):\n    pass\n"
    )
    monkeypatch.chdir(tmp_path)
    code, out, err = _schema_check(capsys, f"sqlalchemy:{module}:Base", live.dsn)
    assert (code, out) == (2, "")
    assert (
        err.startswith(f"pgdba: error: {module}:Base declares no SQLAlchemy table (") and err.count("\n") == 1
    )


def test_serve_refuses_an_empty_schema_source_and_the_api_answers_422_not_a_drift_report(
    live: TestDatabase, tmp_path: Path
) -> None:
    schema = tmp_path / "schema.prisma"
    schema.write_text("")
    settings = ApiSettings(live.target, schema_sources=(f"prisma:{schema}",))
    with pytest.raises(InputError, match="declares no Prisma model"):
        check_served_files(settings)  # what `pgdba serve --schema-source` runs before it starts
    response = TestClient(create_app(settings)).get("/api/v1/schema/check")  # emptied after the start
    assert response.status_code == 422
    assert response.json() == {
        "error": "InputError",
        "detail": f"schema file {schema} declares no Prisma model",
    }
