"""Benchmark: `pgdba schema check` on a generated N-model schema (default 1,000) described three ways —
Prisma, Drizzle and the live database — against `drizzle-kit generate` on the same Drizzle schema.

    .venv/bin/python benchmarks/schema/bench_check.py [--models 1000] [--runs 3]

Starts a throwaway embedded PostgreSQL, applies the generated DDL, times the whole check (parse both files,
read the catalog, compare the three pairs) in-process, then times drizzle-kit generate (npm oracles from
scripts/npm-oracles.sh). Prints one Markdown table row per measurement.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

from pgdba.embedded import EmbeddedCluster
from pgdba.schema import check_schemas

ROOT = Path(__file__).resolve().parents[2]
ENUM_EVERY = 50


def generate(models: int, folder: Path) -> tuple[Path, Path, str]:
    """A Prisma file, a Drizzle file and the DDL of the same N-model schema (Prisma's naming)."""
    prisma = ['datasource db {\n  provider = "postgresql"\n}\n']
    drizzle = [
        "import { pgTable, pgEnum, serial, integer, text, varchar, boolean, timestamp, numeric, jsonb, index,"
        ' uniqueIndex, foreignKey } from "drizzle-orm/pg-core";\n'
    ]
    ddl: list[str] = []
    for e in range(0, models, ENUM_EVERY):
        prisma.append(f"enum State{e} {{\n  NEW\n  ACTIVE\n  CLOSED\n}}\n")
        drizzle.append(f'export const state{e} = pgEnum("State{e}", ["NEW", "ACTIVE", "CLOSED"]);\n')
        ddl.append(f"CREATE TYPE \"State{e}\" AS ENUM ('NEW', 'ACTIVE', 'CLOSED');")
    for i in range(models):
        name, enum = f"Model{i}", f"State{i - i % ENUM_EVERY}"
        parent = f"Model{i - 1}" if i else None
        prisma.append(
            f"model {name} {{\n"
            "  id        Int      @id @default(autoincrement())\n"
            "  code      String   @unique @db.VarChar(40)\n"
            "  title     String\n"
            "  active    Boolean  @default(true)\n"
            "  price     Decimal  @default(0) @db.Decimal(10, 2)\n"
            f"  state     {enum} @default(NEW)\n"
            "  meta      Json?\n"
            "  createdAt DateTime @default(now())\n"
            + (
                f"  parentId  Int?\n  parent    {parent}? @relation(fields: [parentId], references: [id])\n"
                if parent
                else ""
            )
            + (f"  children  Model{i + 1}[]\n" if i + 1 < models else "")
            + "\n  @@index([createdAt(sort: Desc)])\n"
            + ("  @@index([parentId])\n" if parent else "")
            + "}\n"
        )
        parent_var = f"model{i - 1}"
        drizzle.append(
            f'export const model{i} = pgTable("{name}", {{\n'
            '  id: serial("id").primaryKey(),\n'
            '  code: varchar("code", { length: 40 }).notNull(),\n'
            '  title: text("title").notNull(),\n'
            '  active: boolean("active").notNull().default(true),\n'
            '  price: numeric("price", { precision: 10, scale: 2 }).notNull().default("0"),\n'
            f'  state: state{i - i % ENUM_EVERY}("state").notNull().default("NEW"),\n'
            '  meta: jsonb("meta"),\n'
            '  createdAt: timestamp("createdAt", { precision: 3 }).notNull().defaultNow(),\n'
            + ('  parentId: integer("parentId"),\n' if parent else "")
            + "}, (t) => [\n"
            f'  uniqueIndex("{name}_code_key").on(t.code),\n'
            f'  index("{name}_createdAt_idx").on(t.createdAt.desc().nullsFirst()),\n'
            + (
                f'  index("{name}_parentId_idx").on(t.parentId),\n'
                f'  foreignKey({{ columns: [t.parentId], foreignColumns: [{parent_var}.id], name: "{name}_parentId_fkey" }})'
                '.onDelete("set null").onUpdate("cascade"),\n'
                if parent
                else ""
            )
            + "]);\n"
        )
        ddl.append(
            f'CREATE TABLE "{name}" ("id" SERIAL NOT NULL, "code" VARCHAR(40) NOT NULL, "title" TEXT NOT NULL, '
            '"active" BOOLEAN NOT NULL DEFAULT true, "price" DECIMAL(10,2) NOT NULL DEFAULT 0, '
            f'"state" "{enum}" NOT NULL DEFAULT \'NEW\', "meta" JSONB, '
            '"createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP'
            + (', "parentId" INTEGER' if parent else "")
            + f', CONSTRAINT "{name}_pkey" PRIMARY KEY ("id"));'
            f'CREATE UNIQUE INDEX "{name}_code_key" ON "{name}"("code");'
            f'CREATE INDEX "{name}_createdAt_idx" ON "{name}"("createdAt" DESC);'
        )
        if parent:
            ddl.append(f'CREATE INDEX "{name}_parentId_idx" ON "{name}"("parentId");')
    for i in range(1, models):
        ddl.append(
            f'ALTER TABLE "Model{i}" ADD CONSTRAINT "Model{i}_parentId_fkey" FOREIGN KEY ("parentId") '
            f'REFERENCES "Model{i - 1}"("id") ON DELETE SET NULL ON UPDATE CASCADE;'
        )
    prisma_path, drizzle_path = folder / "schema.prisma", folder / "schema" / "schema.ts"
    drizzle_path.parent.mkdir(parents=True, exist_ok=True)
    prisma_path.write_text("\n".join(prisma))
    drizzle_path.write_text("".join(drizzle))
    return prisma_path, drizzle_path, "\n".join(ddl)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(f"| machine load (1-min average, {os.cpu_count()} CPUs) at start | {os.getloadavg()[0]:.1f} |")
    work = Path(tempfile.mkdtemp(prefix="pgdba-schema-bench-"))
    os.chmod(work, 0o755)
    cluster = EmbeddedCluster(work / "pg")
    try:
        prisma, drizzle, ddl = generate(args.models, work)
        cluster.start()
        with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
            conn.execute("CREATE DATABASE bench")
        dsn = cluster.dsn("bench")
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(ddl)  # type: ignore[arg-type]
        sources = [f"prisma:{prisma}", f"drizzle:{drizzle}", "live"]
        timings, cpu = [], []
        for _ in range(args.runs):
            started, cpu_started = time.perf_counter(), time.process_time()
            result = check_schemas(sources, dsn=dsn)
            timings.append(time.perf_counter() - started)
            cpu.append(time.process_time() - cpu_started)
            drift = [f.title for p in result.pairs for f in p.drift]
            assert not drift, drift[:5]
        cli = []
        for _ in range(args.runs):
            started = time.perf_counter()
            done = subprocess.run(
                [str(ROOT / ".venv" / "bin" / "pgdba"), "schema", "check", *sources, "--dsn", dsn],
                capture_output=True,
                text=True,
                check=False,
                timeout=600,
            )
            cli.append(time.perf_counter() - started)
            assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        compared = result.pairs[0].compared
        print(
            f"| models | {args.models} (tables {compared.tables}, columns {compared.columns}, indexes {compared.indexes}, FKs {compared.foreign_keys}) |"
        )
        print(
            f"| pgdba schema check prisma + drizzle + live, 3 pairs, in-process | median {statistics.median(timings):.2f} s, best {min(timings):.2f} s ({args.runs} runs); pgdba's own CPU time median {statistics.median(cpu):.2f} s |"
        )
        print(
            f"| the same as a command: `pgdba schema check prisma:… drizzle:… live` (process start included) | median {statistics.median(cli):.2f} s, best {min(cli):.2f} s ({args.runs} runs) |"
        )
        modules = ROOT / ".cache" / "npm-oracles" / "node_modules"
        if modules.is_dir():
            (work / "node_modules").symlink_to(modules)
            kit = []
            for run in range(args.runs):
                started = time.perf_counter()
                subprocess.run(
                    [
                        str(modules / ".bin" / "drizzle-kit"),
                        "generate",
                        "--dialect",
                        "postgresql",
                        "--schema",
                        "schema",
                        "--out",
                        f"out{run}",
                    ],
                    cwd=work,
                    capture_output=True,
                    check=False,
                    timeout=600,
                )
                kit.append(time.perf_counter() - started)
                assert list((work / f"out{run}" / "meta").glob("*_snapshot.json")), (
                    "drizzle-kit wrote no snapshot"
                )
            print(
                f"| drizzle-kit generate (Drizzle file only, no comparison) | median {statistics.median(kit):.2f} s, best {min(kit):.2f} s ({args.runs} runs) |"
            )
        else:
            print("| drizzle-kit generate | not run: scripts/npm-oracles.sh not installed |")
    finally:
        cluster.destroy()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
