"""`pgdba maintenance [--apply]`: what needs VACUUM / ANALYZE and why; --apply runs it."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from pgdba.cli.options import (
    ApplyOption,
    DsnOption,
    FormatOption,
    LockTimeoutOption,
    check_format,
    target_from,
)
from pgdba.errors import NotAvailable
from pgdba.maintenance import apply_maintenance, maintenance_plan
from pgdba.render import Column, print_rows
from pgdba.target import MAX_TIMEOUT_MS


def maintenance(
    dsn: DsnOption = None,
    fmt: FormatOption = "table",
    apply: ApplyOption = False,
    lock_timeout: LockTimeoutOption = 2_000,
    vacuum_timeout: Annotated[
        int,
        typer.Option(
            "--vacuum-timeout",
            help="statement_timeout for each VACUUM with --apply, in ms (0 = none: a large table's VACUUM "
            "takes as long as it takes; --lock-timeout still bounds the wait for its lock)",
            min=0,
            max=MAX_TIMEOUT_MS,
        ),
    ] = 0,
) -> None:
    """List tables needing VACUUM / ANALYZE and why; --apply runs VACUUM (ANALYZE) on exactly those, one at a
    time, printing each statement first. Exit 1 when an --apply step failed. On a replica nothing is
    planned (VACUUM and ANALYZE run on the primary) and --apply exits 2.

    Example: pgdba maintenance --apply --lock-timeout 1000
    """
    fmt = check_format(fmt)
    target = target_from(dsn, lock_timeout=lock_timeout)
    plan = maintenance_plan(target)
    if apply and plan.not_planned is not None:
        raise NotAvailable(plan.not_planned)
    if apply and plan.items:
        # the SQL goes to stderr in json mode so stdout stays one JSON document
        announce = (lambda text: print(text, file=sys.stderr)) if fmt == "json" else print
        apply_maintenance(target, plan, announce=announce, vacuum_timeout_ms=vacuum_timeout)
    rows = [{**item.to_dict(), "reasons": "; ".join(item.reasons)} for item in plan.items]
    columns = [Column("table", "table"), Column("reasons", "why"), Column("sql", "sql")]
    if plan.applied:
        columns += [Column("status", "status"), Column("seconds", "seconds", "right")]
    if any(item.error for item in plan.items):
        columns.append(Column("error", "error"))
    title = (
        "Maintenance not planned"
        if plan.not_planned
        else _title(applied=plan.applied, needed=bool(plan.items))
    )
    print_rows(
        rows,
        columns,
        fmt,
        title=title,
        json_data=plan.to_dict(),
        empty=plan.not_planned or "no table needs VACUUM or ANALYZE",
    )
    if plan.failed:
        raise typer.Exit(1)


def _title(*, applied: bool, needed: bool) -> str:
    if applied:
        return "Maintenance applied"
    return "Maintenance needed (run with --apply to do it)" if needed else "No maintenance needed"
