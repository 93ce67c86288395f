"""`pgdba schema check` on input it cannot use: a SQLAlchemy module that exits on import, Drizzle tables
whose name is not known statically, config files of the wrong shape and unknown ignore-rule kinds. Each is
one `pgdba: error:` line and exit 2, or a note in the report — never silence, never an internal error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from schema_test_paths import ROOT

from pgdba.cli import main

DEMO_PRISMA = ROOT / "pgdba" / "demo" / "schema.prisma"


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["schema", "check", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


# --- SQLAlchemy modules that exit on import ---------------------------------------------------------


@pytest.mark.parametrize(
    ("module", "exit_call", "status"),
    [
        ("exits_zero_on_import", "sys.exit(0)", "code 0"),
        ("exits_none_on_import", "sys.exit()", "code 0"),
        ("exits_message_on_import", 'sys.exit("DATABASE_URL is not set")', "code 1: DATABASE_URL is not set"),
        ("exits_five_on_import", "sys.exit(5)", "code 5"),
    ],
)
def test_sqlalchemy_module_exiting_on_import_is_an_input_error(
    module: str,
    exit_call: str,
    status: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / f"{module}.py").write_text(f"import sys\n{exit_call}\n")
    monkeypatch.chdir(tmp_path)
    code, out, err = _run([f"sqlalchemy:{module}:Base", f"prisma:{DEMO_PRISMA}"], capsys)
    assert code == 2
    assert out == ""
    assert err.strip() == f"pgdba: error: importing {module} exited ({status})"


# --- Drizzle tables whose name is not known statically -----------------------------------------------

_DRIZZLE_HEADER = 'import { pgTable, integer } from "drizzle-orm/pg-core";\n'


@pytest.mark.parametrize(
    ("declarations", "cause"),
    [
        ("export const t = pgTable(process.env.T, { id: integer() });\n", "process is not defined"),
        ('export const t = pgTable("a".toUpperCase(), { id: integer() });\n', "method .toUpperCase()"),
        (
            "function f(): string { return f() }\nexport const t = pgTable(f(), { id: integer() });\n",
            "function calls nested more than 32 deep",
        ),
    ],
)
def test_drizzle_table_with_a_name_not_known_statically_is_a_note(
    declarations: str, cause: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    schema = tmp_path / "d8.ts"
    schema.write_text(_DRIZZLE_HEADER + declarations)
    line = _DRIZZLE_HEADER.count("\n") + declarations.count("\n")
    code, out, err = _run([f"drizzle:{schema}", f"prisma:{DEMO_PRISMA}", "-f", "json"], capsys)
    assert err == ""
    assert code == 1  # the Prisma tables are still missing on the Drizzle side
    drizzle = json.loads(out)["sources"][0]
    assert drizzle["tables"] == 0
    [note] = drizzle["notes"]
    assert note.startswith(
        f"{schema}:{line}:18: pgTable(...) not compared: its table name is not known statically ("
    )
    assert cause in note


def test_drizzle_note_on_an_unnamed_table_is_in_the_verbose_text_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    schema = tmp_path / "d8.ts"
    schema.write_text(_DRIZZLE_HEADER + "export const t = pgTable(process.env.T, { id: integer() });\n")
    code, out, _ = _run([f"drizzle:{schema}", f"prisma:{DEMO_PRISMA}", "-v"], capsys)
    assert code == 1
    assert f"{schema}:2:18: pgTable(...) not compared: its table name is not known statically" in out


def test_deeply_nested_drizzle_expression_is_a_note_not_a_crash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    chain = ['const a0 = "t";'] + [f"const a{i} = a{i - 1};" for i in range(1, 400)]
    schema = tmp_path / "deep.ts"
    schema.write_text(
        _DRIZZLE_HEADER + "\n".join(chain) + "\nexport const t = pgTable(a399, { id: integer() });\n"
    )
    code, out, err = _run([f"drizzle:{schema}", f"prisma:{DEMO_PRISMA}", "-f", "json"], capsys)
    assert err == ""
    assert code == 1
    [note] = json.loads(out)["sources"][0]["notes"]
    assert "its table name is not known statically (expression nested too deeply" in note


# --- config files of the wrong shape -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("schema = 5\n", "schema must be a table ([schema]), not int"),
        ('ignore = ["table:*"]\n', "unknown top-level key(s) ignore (settings go in the [schema] table)"),
        ("[other]\na = 1\n[schema]\n", "unknown top-level key(s) other"),
        ('[schema]\nignore = ["bogus:*"]\n', "schema.ignore: ignore rule 'bogus:*': unknown kind 'bogus'"),
    ],
)
def test_config_file_of_the_wrong_shape_is_a_one_line_error(
    text: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "c7.toml"
    config.write_text(text)
    code, out, err = _run([f"prisma:{DEMO_PRISMA}", f"prisma:{DEMO_PRISMA}", "--config", str(config)], capsys)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith(f"pgdba: error: {config}: {message}")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("tool = 5\n", "pyproject.toml: tool must be a table ([tool]), not int"),
        ("[tool]\npgdba = 5\n", "pyproject.toml: tool.pgdba must be a table ([tool.pgdba]), not int"),
        (
            "[tool.pgdba]\nschema = 5\n",
            "pyproject.toml: tool.pgdba.schema must be a table ([tool.pgdba.schema]), not int",
        ),
    ],
)
def test_pyproject_of_the_wrong_shape_is_a_one_line_error(
    text: str,
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "pyproject.toml").write_text(text)
    monkeypatch.chdir(tmp_path)
    code, out, err = _run([f"prisma:{DEMO_PRISMA}", f"prisma:{DEMO_PRISMA}"], capsys)
    assert code == 2
    assert out == ""
    assert err == f"pgdba: error: {message}\n"


def test_pyproject_leaves_other_tools_tables_alone_and_reads_tool_pgdba_schema(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.ruff]\nline-length = 110\n[other]\nx = 1\n[tool.pgdba.schema]\nignore = ["index:*"]\n'
    )
    other = tmp_path / "other.prisma"
    other.write_text(DEMO_PRISMA.read_text().replace("@@index(", "// @@index(", 1))
    monkeypatch.chdir(tmp_path)
    code, out, err = _run([f"prisma:{DEMO_PRISMA}", f"prisma:{other}"], capsys)
    assert err == ""
    assert code == 0
    assert "1 finding ignored by ignore rules" in out


@pytest.mark.parametrize("rule", ["bogus:*", "schema.bogus:*", "colum:User.id"])
def test_ignore_option_with_an_unknown_kind_is_refused(rule: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run([f"prisma:{DEMO_PRISMA}", f"prisma:{DEMO_PRISMA}", "--ignore", rule], capsys)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert f"pgdba: error: ignore rule {rule!r}: unknown kind" in err
    assert "use one of table, column, index, unique, foreign_key, check, enum, name" in err


@pytest.mark.parametrize("rule", ["column.default:*", "schema.index.*:*", "*:User.*", "name:*"])
def test_ignore_option_accepts_finding_codes_and_globs_on_them(
    rule: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _run([f"prisma:{DEMO_PRISMA}", f"prisma:{DEMO_PRISMA}", "--ignore", rule], capsys)
    assert err == ""
    assert code == 0
