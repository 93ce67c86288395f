"""Turn the official tools' own reading of a schema into the verifier's model, for the oracle tests:
Prisma's DMMF (prisma-schema-wasm) and drizzle-kit's snapshot JSON. Written from those documents'
fields, independently of pgdba's parsers."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import quote

from psycopg.conninfo import conninfo_to_dict
from schema_test_paths import ORACLE_SCRIPTS

from pgdba.schema.expressions import normalise_default, normalise_expression, sql_literal
from pgdba.schema.model import (
    Capabilities,
    Check,
    Column,
    Default,
    DefaultKind,
    EnumType,
    ForeignKey,
    Index,
    IndexColumn,
    PrimaryKey,
    SchemaModel,
    Table,
)
from pgdba.schema.opclasses import canonical_opclass
from pgdba.schema.types import canonical_type, user_type

_PRISMA_SCALARS = {
    "String": "text",
    "Boolean": "boolean",
    "Int": "integer",
    "BigInt": "bigint",
    "Float": "double precision",
    "Decimal": "numeric(65,30)",
    "DateTime": "timestamp(3) without time zone",
    "Json": "jsonb",
    "Bytes": "bytea",
}
_PRISMA_NATIVE = {
    "Uuid": "uuid",
    "VarChar": "varchar",
    "Char": "char",
    "Text": "text",
    "SmallInt": "smallint",
    "Integer": "integer",
    "BigInt": "bigint",
    "Decimal": "numeric",
    "Date": "date",
    "Timestamp": "timestamp",
    "Timestamptz": "timestamptz",
    "Real": "real",
    "DoublePrecision": "double precision",
    "JsonB": "jsonb",
    "Json": "json",
}
_PRISMA_ACTIONS = {
    "Cascade": "CASCADE",
    "Restrict": "RESTRICT",
    "NoAction": "NO ACTION",
    "SetNull": "SET NULL",
    "SetDefault": "SET DEFAULT",
}


def prisma_dmmf(node_modules: Path, schema: Path) -> dict[str, Any]:
    done = subprocess.run(
        ["node", str(ORACLE_SCRIPTS / "prisma_dmmf.js"), str(node_modules), str(schema)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def dmmf_model(datamodel: dict[str, Any], *, relation_mode_prisma: bool = False) -> SchemaModel:
    model = SchemaModel(source="dmmf", kind="prisma", label="dmmf")
    model.capabilities = Capabilities(
        checks=False, foreign_keys=not relation_mode_prisma, index_predicates=False
    )
    enums = {e["name"]: e for e in datamodel["enums"]}
    for enum in datamodel["enums"]:
        values = tuple(v["dbName"] or v["name"] for v in enum["values"])
        model.add_enum(EnumType("public", enum["dbName"] or enum["name"], values))
    tables: dict[str, Table] = {}
    for entry in datamodel["models"]:
        table = Table(entry["schema"] or "public", entry["dbName"] or entry["name"], entry["name"])
        tables[entry["name"]] = table
        for f in entry["fields"]:
            if f["kind"] not in ("scalar", "enum"):
                continue
            if f["kind"] == "enum":
                enum = enums[f["type"]]
                base = user_type("public", enum["dbName"] or enum["name"])
            elif f.get("nativeType"):
                name, args = f["nativeType"]
                text = _PRISMA_NATIVE[name]
                if text == "timestamptz" and args:
                    text = f"timestamp({args[0]}) with time zone"
                elif args:
                    text += "(" + ",".join(args) + ")"
                base = canonical_type(text)
            else:
                base = _PRISMA_SCALARS[f["type"]]
            column_type = base + "[]" if f["isList"] else base
            column = Column(
                f.get("dbName") or f["name"],
                column_type,
                nullable=not f["isRequired"] or f["isList"],
                default=_dmmf_default(f, base, enums),
                field=f["name"],
            )
            table.columns[column.name] = column
        model.add_table(table)
    for entry in datamodel["models"]:
        table = tables[entry["name"]]
        db = {f["name"]: f.get("dbName") or f["name"] for f in entry["fields"]}
        for f in entry["fields"]:
            if f["kind"] == "object" and f.get("relationFromFields") and not relation_mode_prisma:
                target = tables[f["type"]]
                target_fields = next(m for m in datamodel["models"] if m["name"] == f["type"])["fields"]
                target_db = {x["name"]: x.get("dbName") or x["name"] for x in target_fields}
                columns = tuple(db[c] for c in f["relationFromFields"])
                required = any(
                    x["isRequired"] for x in entry["fields"] if x["name"] in f["relationFromFields"]
                )
                table.foreign_keys.append(
                    ForeignKey(
                        f"{table.name}_{'_'.join(columns)}_fkey",
                        columns,
                        target.schema,
                        target.name,
                        tuple(target_db[c] for c in f["relationToFields"]),
                        _PRISMA_ACTIONS.get(
                            f.get("relationOnDelete", ""), "RESTRICT" if required else "SET NULL"
                        ),
                        _PRISMA_ACTIONS.get(f.get("relationOnUpdate", ""), "CASCADE"),
                        name_explicit=False,
                    )
                )
    for index in datamodel["indexes"]:
        table = tables[index["model"]]
        fields = next(m for m in datamodel["models"] if m["name"] == index["model"])["fields"]
        db = {f["name"]: f.get("dbName") or f["name"] for f in fields}
        method = (index.get("algorithm") or "BTree").lower()
        columns = []
        for f in index["fields"]:
            name = db[f["name"]]
            descending = f.get("sortOrder") == "desc"
            opclass = re.sub(r"(?<!^)(?=[A-Z])", "_", f.get("operatorClass") or "").lower()
            column_type = table.columns[name].type if name in table.columns else ""
            columns.append(
                IndexColumn(name, descending, descending, canonical_opclass(method, column_type, opclass))
            )
        names = "_".join(c.expression for c in columns)
        explicit = bool(index.get("dbName"))
        if index["type"] == "id":
            table.primary_key = PrimaryKey(
                tuple(c.expression for c in columns), index.get("dbName") or f"{table.name}_pkey", explicit
            )
        elif index["type"] == "unique":
            table.indexes.append(
                Index(
                    index.get("dbName") or f"{table.name}_{names}_key",
                    tuple(columns),
                    unique=True,
                    name_explicit=explicit,
                )
            )
        else:
            table.indexes.append(
                Index(
                    index.get("dbName") or f"{table.name}_{names}_idx",
                    tuple(columns),
                    method=method,
                    name_explicit=explicit,
                )
            )
    return model


def _dmmf_default(f: dict[str, Any], base: str, enums: dict[str, Any]) -> Default:
    if "default" not in f:
        return Default(DefaultKind.CLIENT, "@updatedAt", "") if f["isUpdatedAt"] else Default.none()
    value = f["default"]
    if isinstance(value, dict):
        name = value["name"]
        if name == "autoincrement":
            return Default(DefaultKind.SEQUENCE, "nextval", "")
        if name == "now":
            return normalise_default("now()", base)
        if name == "dbgenerated":
            return normalise_default(value["args"][0], base)
        return Default(DefaultKind.CLIENT, name, "")
    return normalise_default(_dmmf_literal(f, value, enums), base)


def _dmmf_literal(f: dict[str, Any], value: Any, enums: dict[str, Any]) -> str:
    if isinstance(value, list):
        return "ARRAY[" + ", ".join(_dmmf_literal(f, v, enums) for v in value) + "]"
    if f["kind"] == "enum":
        member = next(v for v in enums[f["type"]]["values"] if v["name"] == value)
        return sql_literal(member["dbName"] or member["name"])
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if f["type"] in ("BigInt",) and isinstance(value, str):
        return value
    return sql_literal(str(value))


def drizzle_kit_generate(workdir: Path) -> tuple[dict[str, Any], str]:
    """Run drizzle-kit generate on workdir/schema; its snapshot and SQL (its exit code is not trusted)."""
    out = workdir / "out"
    done = subprocess.run(
        [
            str(workdir / "node_modules" / ".bin" / "drizzle-kit"),
            "generate",
            "--dialect",
            "postgresql",
            "--schema",
            "schema",
            "--out",
            "out",
        ],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    snapshots = sorted(out.glob("meta/*_snapshot.json"))
    assert snapshots, f"drizzle-kit wrote no snapshot: {done.stdout[-1500:]} {done.stderr[-1500:]}"
    sql = "\n".join(p.read_text() for p in sorted(out.glob("*.sql")))
    return json.loads(snapshots[-1].read_text()), sql.replace("--> statement-breakpoint", "")


def snapshot_model(snapshot: dict[str, Any]) -> SchemaModel:
    model = SchemaModel(source="drizzle-kit", kind="drizzle", label="drizzle-kit")
    for enum in snapshot["enums"].values():
        model.add_enum(EnumType(enum["schema"] or "public", enum["name"], tuple(enum["values"])))
    for entry in snapshot["tables"].values():
        table = Table(entry["schema"] or "public", entry["name"])
        for c in entry["columns"].values():
            raw = c["type"]
            column_type = user_type(c["typeSchema"], raw) if "typeSchema" in c else canonical_type(raw)
            column = Column(c["name"], column_type, nullable=not c["notNull"])
            if raw in ("serial", "bigserial", "smallserial"):
                column.default = Default(DefaultKind.SEQUENCE, "nextval", "")
            elif "default" in c:
                column.default = normalise_default(str(c["default"]), column_type)
            if "identity" in c:
                column.identity = "always" if c["identity"]["type"] == "always" else "by default"
            table.columns[column.name] = column
            if c["primaryKey"]:
                table.primary_key = PrimaryKey((c["name"],), f"{table.name}_pkey", False)
        for pk in entry["compositePrimaryKeys"].values():
            table.primary_key = PrimaryKey(tuple(pk["columns"]), pk["name"], False)
        for unique in entry["uniqueConstraints"].values():
            table.indexes.append(
                Index(
                    unique["name"],
                    tuple(IndexColumn(c) for c in unique["columns"]),
                    unique=True,
                    is_constraint=True,
                    nulls_not_distinct=unique["nullsNotDistinct"],
                )
            )
        for index in entry["indexes"].values():
            columns = []
            for c in index["columns"]:
                descending = not c["asc"]
                expression = (
                    c["expression"] if not c["isExpression"] else normalise_expression(c["expression"])
                )
                column_type = table.columns[expression].type if expression in table.columns else ""
                columns.append(
                    IndexColumn(
                        expression,
                        descending,
                        c["nulls"] == "first",
                        canonical_opclass(index["method"], column_type, c.get("opclass", "")),
                    )
                )
            table.indexes.append(
                Index(
                    index["name"],
                    tuple(columns),
                    unique=index["isUnique"],
                    method=index["method"],
                    predicate=normalise_expression(index["where"]) if index.get("where") else "",
                )
            )
        for fk in entry["foreignKeys"].values():
            table.foreign_keys.append(
                ForeignKey(
                    fk["name"],
                    tuple(fk["columnsFrom"]),
                    fk.get("schemaTo") or "public",
                    fk["tableTo"],
                    tuple(fk["columnsTo"]),
                    fk["onDelete"].upper(),
                    fk["onUpdate"].upper(),
                )
            )
        for check in entry["checkConstraints"].values():
            table.checks.append(Check(check["name"], normalise_expression(check["value"])))
        model.add_table(table)
    return model


def node_url(dsn: str) -> str:
    """The test database's DSN as a URL the node tools read: node-postgres does not read libpq passfiles,
    so the password goes in the URL."""
    params = conninfo_to_dict(dsn)
    password = ""
    for line in Path(str(params["passfile"])).read_text().splitlines():
        fields = line.split(":")
        if len(fields) >= 5 and fields[3] in ("*", params.get("user")):
            password = ":".join(fields[4:])
            break
    return f"postgresql://{params['user']}:{quote(password, safe='')}@{params['host']}:{params['port']}/{params['dbname']}"


def prisma_ddl(node_modules: Path, schema: Path, dsn: str) -> str:
    """The SQL Prisma's schema engine generates to create `schema` from nothing (it needs a server to
    talk to; node-postgres does not read libpq passfiles, so the password goes in the URL)."""
    sql = _prisma_engine(node_modules, schema, dsn, "ddl")
    assert "CREATE TABLE" in sql, sql[-2000:]
    return sql


def prisma_migration_from_live(node_modules: Path, schema: Path, dsn: str) -> str:
    """The SQL statements that would bring the database at `dsn` to `schema`, as `prisma migrate diff
    --from-config-datasource --to-schema SCHEMA --script` prints them: none when Prisma's own engine finds
    the database and the schema the same."""
    script = _prisma_engine(node_modules, schema, dsn, "diff")
    return "\n".join(line for line in script.splitlines() if line.strip() and not line.startswith("--"))


def _prisma_engine(node_modules: Path, schema: Path, dsn: str, mode: str) -> str:
    """What oracles/prisma_engine.mjs prints in `mode` (ddl, diff, pull or push) for `schema` and the database."""
    done = subprocess.run(
        ["node", str(ORACLE_SCRIPTS / "prisma_engine.mjs"), str(node_modules), mode, str(schema)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "PRISMA_DDL_URL": node_url(dsn)},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def prisma_db_pull(node_modules: Path, schema: Path, dsn: str) -> str:
    """The schema `prisma db pull` writes for the database (`schema`: a file with the datasource block, and
    the generator blocks to keep)."""
    pulled = _prisma_engine(node_modules, schema, dsn, "pull")
    assert "model " in pulled, pulled[-2000:]
    return pulled


def prisma_db_push(node_modules: Path, schema: Path, dsn: str) -> dict[str, Any]:
    """`prisma db push` without --accept-data-loss: {"executedSteps": 0, "warnings": [], …} when Prisma's
    engine sees no difference between `schema` and the database (else it changes the database, or warns)."""
    return json.loads(_prisma_engine(node_modules, schema, dsn, "push"))  # type: ignore[no-any-return]


def drizzle_kit_pull(workdir: Path, dsn: str) -> Path:
    """Run `drizzle-kit pull` on the database; the schema.ts it writes."""
    out = workdir / "pulled"
    done = subprocess.run(
        [
            str(workdir / "node_modules" / ".bin" / "drizzle-kit"),
            "pull",
            "--dialect",
            "postgresql",
            "--url",
            node_url(dsn),
            "--out",
            str(out),
        ],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    schema = out / "schema.ts"
    assert schema.is_file(), f"drizzle-kit pull wrote no schema: {done.stdout[-1500:]} {done.stderr[-1500:]}"
    return schema
