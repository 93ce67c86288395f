"""pgdba's schema model (pgdba.schema) of the source, kept in the manifest as JSON, so a restore test can
compare the restored copy with the schema as it was at backup time through pgdba's schema comparison.

The model's dataclasses hold tuple-keyed dicts, tuples, sets and enums; these two functions turn them
into JSON-friendly data and back. A stored model that no longer fits the classes (pgdba upgraded between
backup and test) is reported by the restore test as a warning, never as a pass.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import psycopg

from pgdba.schema.compare import compare_models
from pgdba.schema.live_source import live_model
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


def capture_schema_model(conn: psycopg.Connection) -> dict[str, Any]:
    """The live schema of every non-system schema, as JSON-friendly data."""
    return model_to_dict(live_model(conn, None, "backup"))


def model_to_dict(model: SchemaModel) -> dict[str, Any]:
    return {
        "source": model.source,
        "kind": model.kind,
        "tables": [asdict(t) for t in model.tables.values()],
        "enums": [asdict(e) for e in model.enums.values()],
        "capabilities": asdict(model.capabilities),
        "notes": list(model.notes),
        "label": model.label,
        "unevaluated_tables": sorted(model.unevaluated_tables),
    }


def model_from_dict(data: dict[str, Any]) -> SchemaModel:
    model = SchemaModel(
        source=data["source"],
        kind=data["kind"],
        capabilities=Capabilities(**data["capabilities"]),
        notes=list(data["notes"]),
        label=data["label"],
        unevaluated_tables=set(data["unevaluated_tables"]),
    )
    for raw in data["enums"]:
        model.add_enum(EnumType(**{**raw, "values": tuple(raw["values"])}))
    for raw in data["tables"]:
        model.add_table(_table(raw))
    return model


def _table(raw: dict[str, Any]) -> Table:
    columns = {
        name: Column(
            **{**c, "default": Default(**{**c["default"], "kind": DefaultKind(c["default"]["kind"])})}
        )
        for name, c in raw["columns"].items()
    }
    pk = raw["primary_key"]
    return Table(
        **{
            **raw,
            "columns": columns,
            "primary_key": PrimaryKey(**{**pk, "columns": tuple(pk["columns"])}) if pk else None,
            "indexes": [
                Index(
                    **{
                        **i,
                        "columns": tuple(IndexColumn(**c) for c in i["columns"]),
                        "include": tuple(i["include"]),
                    }
                )
                for i in raw["indexes"]
            ],
            "foreign_keys": [
                ForeignKey(**{**f, "columns": tuple(f["columns"]), "ref_columns": tuple(f["ref_columns"])})
                for f in raw["foreign_keys"]
            ],
            "checks": [Check(**c) for c in raw["checks"]],
        }
    )


def schema_model_drift(stored: dict[str, Any], conn: psycopg.Connection) -> list[str]:
    """pgdba.schema's drift findings between the stored model and the live schema behind `conn`."""
    restored = live_model(conn, None, "restored")
    result = compare_models(model_from_dict(stored), restored)
    return [f"{f.title}" + (f" ({f.object})" if f.object else "") for f in result.drift]
