"""The verifier's config file: equivalence switches and `ignore` rules.

```toml
[schema]                      # in pgdba-schema.toml, or [tool.pgdba.schema] in pyproject.toml
unique_index_equals_constraint = true
compare_nulls_order = true
restrict_equals_no_action = false
compare_names = false
drizzle_casing = ""           # "snake_case" / "camelCase" when drizzle.config sets casing
ignore = [
  "table:audit_log",          # every finding on a table (glob)
  "column:User.legacyId",     # every finding on a column (table.column, glob; the ORM names work too)
  "index:*._trgm_*",          # indexes, foreign keys, checks, enums: index:TABLE.NAME …
  "schema.column.default:*",  # a finding code (glob) on an object (glob)
]
```
"""

from __future__ import annotations

import fnmatch
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pgdba.errors import InputError
from pgdba.findings import Finding
from pgdba.schema.compare import FINDING_CODES, CompareOptions
from pgdba.text_files import read_text_file

DEFAULT_CONFIG_FILES = ("pgdba-schema.toml", ".pgdba-schema.toml")
_OBJECT_KINDS = {
    "table": "schema.",
    "column": "schema.column.",
    "index": "schema.index.",
    "unique": "schema.unique.",
    "foreign_key": "schema.foreign_key.",
    "check": "schema.check.",
    "enum": "schema.enum.",
    "name": "schema.name",
}


@dataclass(frozen=True)
class IgnoreRule:
    code: str  # glob on the finding code
    object: str  # glob on the finding's object (schema-less for public)
    text: str

    def matches(self, finding: Finding, aliases: tuple[str, ...] = ()) -> bool:
        if not fnmatch.fnmatchcase(finding.code, self.code):
            return False
        objects = (finding.object, *aliases)
        if self.code == "schema.*" and self.text.startswith("table:"):
            return any(
                fnmatch.fnmatchcase(o.split(".")[0], self.object) or fnmatch.fnmatchcase(o, self.object)
                for o in objects
            )
        return any(fnmatch.fnmatchcase(o, self.object) for o in objects)


@dataclass
class SchemaConfig:
    options: CompareOptions = field(default_factory=CompareOptions)
    ignore: list[IgnoreRule] = field(default_factory=list)
    drizzle_casing: str = ""
    path: str = ""


def parse_rule(text: str) -> IgnoreRule:
    kind, sep, pattern = text.partition(":")
    if not sep or not kind or not pattern:
        raise InputError(
            f"ignore rule {text!r}: use KIND:PATTERN (table:, column:, index:, …) or CODE:PATTERN"
        )
    if kind in _OBJECT_KINDS:
        prefix = _OBJECT_KINDS[kind]
        return IgnoreRule(prefix + "*" if prefix.endswith(".") else prefix, pattern, text)
    code = kind if kind.startswith("schema.") else "schema." + kind
    if not any(fnmatch.fnmatchcase(f"schema.{known}", code) for known in FINDING_CODES):
        raise InputError(
            f"ignore rule {text!r}: unknown kind {kind!r}; use one of {', '.join(_OBJECT_KINDS)} "
            f"or a finding code ({', '.join(FINDING_CODES)}; a glob such as column.* works too)"
        )
    return IgnoreRule(code, pattern, text)


def load_config(path: Path | None = None) -> SchemaConfig:
    """The given config file, else pgdba-schema.toml / .pgdba-schema.toml / pyproject's [tool.pgdba.schema]
    in the current folder, else the defaults."""
    if path is not None:
        if not path.is_file():
            raise InputError(f"config file {path} not found")
        return _from_file(path, required=True)
    for name in DEFAULT_CONFIG_FILES:
        if Path(name).is_file():
            return _from_file(Path(name), required=True)
    if Path("pyproject.toml").is_file():
        return _from_file(Path("pyproject.toml"), required=False)
    return SchemaConfig()


def _from_file(path: Path, *, required: bool) -> SchemaConfig:
    try:
        data = tomllib.loads(read_text_file(path, "config file"))
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: {exc}") from None
    section = _pyproject_section(data, path) if path.name == "pyproject.toml" else _schema_section(data, path)
    if section is None:
        return SchemaConfig(path=str(path) if required else "")
    return config_from_dict(section, str(path))


def _schema_section(data: dict[str, Any], path: Path) -> dict[str, Any] | None:
    """pgdba-schema.toml: a [schema] table and nothing else."""
    unknown = [key for key in data if key != "schema"]
    if unknown:
        raise InputError(
            f"{path}: unknown top-level key(s) {', '.join(unknown)} (settings go in the [schema] table)"
        )
    return _table_or_none(data, "schema", "schema", path)


def _pyproject_section(data: dict[str, Any], path: Path) -> dict[str, Any] | None:
    """pyproject.toml: only [tool.pgdba.schema] is pgdba's; the other tools' tables are left alone."""
    tool = _table_or_none(data, "tool", "tool", path)
    pgdba = _table_or_none(tool, "pgdba", "tool.pgdba", path) if tool is not None else None
    return _table_or_none(pgdba, "schema", "tool.pgdba.schema", path) if pgdba is not None else None


def _table_or_none(data: dict[str, Any], key: str, dotted: str, path: Path) -> dict[str, Any] | None:
    value = data.get(key)
    if value is not None and not isinstance(value, dict):
        raise InputError(f"{path}: {dotted} must be a table ([{dotted}]), not {type(value).__name__}")
    return value


def config_from_dict(section: dict[str, Any], path: str = "") -> SchemaConfig:
    known = {
        "unique_index_equals_constraint",
        "compare_nulls_order",
        "restrict_equals_no_action",
        "compare_names",
    }
    flags = {}
    for key, value in section.items():
        if key in known:
            if not isinstance(value, bool):
                raise InputError(f"{path}: schema.{key} must be true or false")
            flags[key] = value
        elif key not in ("ignore", "drizzle_casing"):
            raise InputError(f"{path}: unknown setting schema.{key}")
    rules = section.get("ignore", [])
    if not isinstance(rules, list) or not all(isinstance(r, str) for r in rules):
        raise InputError(f"{path}: schema.ignore must be a list of strings")
    casing = section.get("drizzle_casing", "")
    if casing not in ("", "snake_case", "camelCase"):
        raise InputError(f"{path}: schema.drizzle_casing must be snake_case or camelCase")
    return SchemaConfig(CompareOptions(**flags), [_file_rule(r, path) for r in rules], casing, path)


def _file_rule(text: str, path: str) -> IgnoreRule:
    try:
        return parse_rule(text)
    except InputError as exc:
        raise InputError(f"{path}: schema.ignore: {exc}") from None
