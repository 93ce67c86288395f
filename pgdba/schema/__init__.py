"""Schema consistency: Prisma ↔ Drizzle ↔ SQLAlchemy ↔ live database.

    from pgdba.schema import check_schemas
    result = check_schemas(["prisma:prisma/schema.prisma", "drizzle:src/db/schema.ts", "live"], dsn=…)
    result.consistent, result.pairs[0].findings

Every source is normalised to one model in live-catalog terms (model.py), then each pair is compared
(compare.py). Sources: prisma:PATH, drizzle:PATH, sqlalchemy:MODULE:ATTR, live[:DSN].
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

from pgdba.errors import InputError
from pgdba.findings import SCHEMA_VERSION, Finding, Severity
from pgdba.schema.compare import CompareOptions, PairResult, compare_models
from pgdba.schema.config import SchemaConfig, load_config
from pgdba.schema.model import BOOKKEEPING_TABLES, SchemaModel
from pgdba.target import resolve_target

__all__ = ["CheckResult", "CompareOptions", "SchemaConfig", "check_schemas", "load_config", "load_source"]

SOURCE_KINDS = ("prisma", "drizzle", "sqlalchemy", "live")


def load_source(
    spec: str, *, dsn: str | None = None, schemas: set[str] | None = None, casing: str = ""
) -> SchemaModel:
    """One source spec → its model. `live` uses --dsn / PGDBA_DSN / DATABASE_URL / libpq environment."""
    kind, _, rest = spec.partition(":")
    if kind == "prisma" and rest:
        from pgdba.schema.prisma_source import load_prisma

        model = load_prisma(Path(rest), spec)
    elif kind == "drizzle" and rest:
        from pgdba.schema.drizzle_source import load_drizzle

        model = load_drizzle(Path(rest), spec, casing)
    elif kind == "sqlalchemy" and rest:
        from pgdba.schema.sqlalchemy_source import load_sqlalchemy

        model = load_sqlalchemy(rest, spec)
    else:
        model = None
    if model is not None:
        model.location = rest
        return model
    if kind == "live":
        from pgdba.schema.live_source import load_live

        target = resolve_target(rest or dsn)
        model = load_live(target, schemas, "live" if not rest else f"live:{target.masked_dsn}")
        model.location = target.masked_dsn or "libpq environment"
        return model
    raise InputError(
        f"unknown source {spec!r}: use prisma:PATH, drizzle:PATH, sqlalchemy:MODULE:ATTR or live[:DSN]"
    )


@dataclass
class CheckResult:
    sources: list[SchemaModel]
    pairs: list[PairResult]
    ignored: list[Finding] = field(default_factory=list)
    config_path: str = ""

    @property
    def consistent(self) -> bool:
        return all(p.consistent for p in self.pairs)

    def worst(self) -> Severity | None:
        findings = [f for p in self.pairs for f in p.findings]
        return max((f.severity for f in findings), key=lambda s: s.rank, default=None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "consistent": self.consistent,
            "config": self.config_path or None,
            "sources": [
                {
                    "source": s.source,
                    "kind": s.kind,
                    "label": s.label,
                    "tables": len(s.tables),
                    "enums": len(s.enums),
                    "notes": list(s.notes),
                }
                for s in self.sources
            ],
            "pairs": [
                {
                    "left": p.left.label,
                    "right": p.right.label,
                    "consistent": p.consistent,
                    "compared": p.compared.to_dict(),
                    "findings": [f.to_dict() for f in sorted(p.findings, key=_finding_order)],
                }
                for p in self.pairs
            ],
            "ignored": len(self.ignored),
        }


def _finding_order(finding: Finding) -> tuple[int, str, str]:
    return (-finding.severity.rank, finding.object, finding.code)


def check_schemas(
    specs: list[str], *, dsn: str | None = None, config: SchemaConfig | None = None
) -> CheckResult:
    """Load every source, compare every pair, drop what the config's ignore rules name."""
    if len(specs) < 2:
        raise InputError("give at least two sources to compare, e.g. prisma:schema.prisma live")
    config = config or SchemaConfig()
    live_specs = [s for s in specs if s.startswith("live")]
    with ThreadPoolExecutor(max_workers=max(1, len(live_specs))) as pool:
        # the catalog queries run on the server while the files are parsed here
        live = [pool.submit(load_source, s, dsn=dsn, schemas=None) for s in live_specs]
        offline = [load_source(s, casing=config.drizzle_casing) for s in specs if not s.startswith("live")]
        live_models = [future.result() for future in live]
    if offline:
        schemas = set().union(*(m.schemas for m in offline)) or {"public"}
        for model in live_models:
            _keep_schemas(model, schemas)  # the live database may hold other applications' schemas
    models = [live_models.pop(0) if spec.startswith("live") else offline.pop(0) for spec in specs]
    _unique_labels(models)
    return compare_all(models, config)


def _keep_schemas(model: SchemaModel, schemas: set[str]) -> None:
    model.tables = {k: t for k, t in model.tables.items() if k[0] in schemas}
    model.enums = {k: e for k, e in model.enums.items() if k[0] in schemas}


def compare_all(models: list[SchemaModel], config: SchemaConfig | None = None) -> CheckResult:
    config = config or SchemaConfig()
    _leave_out_unread(models)
    pairs = [compare_models(a, b, config.options) for a, b in combinations(models, 2)]
    ignored: list[Finding] = []
    for pair in pairs:
        kept = []
        for finding in pair.findings:
            aliases = _aliases(finding, pair)
            if any(rule.matches(finding, aliases) for rule in config.ignore):
                ignored.append(finding)
            else:
                kept.append(finding)
        pair.findings = kept
    return CheckResult(models, pairs, ignored, config.path)


def _leave_out_unread(models: list[SchemaModel]) -> None:
    """Tables a live source could not read (locked by a migration: its notes name them) are compared in no
    pair: present on one side only, they would be called missing, or a rename of a look-alike table. Nor
    are the migration tools' bookkeeping tables, whichever source describes one (`prisma db pull` writes
    `model prisma_migrations { … @@map("_prisma_migrations") @@ignore }` for one without a primary key)."""
    unread = {name for model in models if model.kind == "live" for name in model.unevaluated_tables}
    for model in models:
        model.tables = {
            k: t for k, t in model.tables.items() if t.name not in unread and t.name not in BOOKKEEPING_TABLES
        }


def _aliases(finding: Finding, pair: PairResult) -> tuple[str, ...]:
    """The finding's object under the ORM's names (User.passwordHash) too, so ignore rules can use them."""
    table_name, _, rest = finding.object.partition(".")
    aliases = []
    for model in (pair.left, pair.right):
        for table in model.tables.values():
            if table.qualified == table_name and table.model:
                column = table.columns.get(rest)
                aliases.append(
                    f"{table.model}.{column.field or rest}"
                    if column is not None
                    else f"{table.model}.{rest}".rstrip(".")
                )
    return tuple(aliases)


def _unique_labels(models: list[SchemaModel]) -> None:
    counts: dict[str, int] = {}
    for model in models:
        counts[model.label] = counts.get(model.label, 0) + 1
    seen: dict[str, int] = {}
    for model in models:
        if counts[model.label] > 1:
            seen[model.label] = seen.get(model.label, 0) + 1
            model.label = f"{model.label}#{seen[model.label]}"
