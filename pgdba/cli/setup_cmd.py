"""`pgdba setup pg-stat-statements [--apply]` and `pgdba snapshot`."""

from __future__ import annotations

from collections.abc import Callable

import typer

from pgdba.cli.options import ApplyOption, DsnOption, FormatOption, check_format, target_from
from pgdba.embedded import EmbeddedCluster
from pgdba.render import Column, print_rows, print_text
from pgdba.setup import (
    RESTART_PENDING,
    SetupStatus,
    apply_pg_stat_statements_setup,
    embedded_cluster_root,
    pg_stat_statements_status,
)
from pgdba.target import Target

app = typer.Typer(help="Check and enable what pgdba needs on the server.", no_args_is_help=True)


def _embedded_restart(target: Target) -> Callable[[], object] | None:
    """The restart of the embedded cluster this target points at; None for any other server."""
    embedded = embedded_cluster_root(target)
    return None if embedded is None else EmbeddedCluster(embedded).restart


def _restart_notes(status: SetupStatus) -> list[str]:
    """Table and Markdown show a fix's SQL only: say which of them needs a restart (JSON has needs_restart)."""
    return [
        f"restart needed: the fix for '{step.code}' takes effect only after PostgreSQL restarts "
        "(--apply restarts pgdba's own embedded cluster; any other server you restart yourself)"
        for step in status.steps
        if step.needs_restart and step.code != RESTART_PENDING.code
    ]


def _print_status(status: SetupStatus, fmt: str) -> None:
    rows = [{"code": s.code, "problem": s.problem, "fix": s.sql or s.fix} for s in status.steps]
    title = "pg_stat_statements is ready" if status.ready else "pg_stat_statements is not ready"
    applied = [f"applied: {statement}" for statement in status.applied]
    print_rows(
        rows,
        [Column("code", "missing"), Column("problem", "problem"), Column("fix", "fix")],
        fmt,
        title=title,
        json_data=status.to_dict(),
        empty="nothing is missing",
        notes=[*applied, *_restart_notes(status), *(f"note: {note}" for note in status.notes)],
    )


@app.command("pg-stat-statements")
def pg_stat_statements(
    dsn: DsnOption = None, apply: ApplyOption = False, fmt: FormatOption = "table"
) -> None:
    """Say exactly what is missing for query statistics; with --apply, fix what this role may fix and report
    the state after. Exit 1 while anything is still missing (a restart pgdba may not do included).

    Example: pgdba setup pg-stat-statements --apply
    """
    fmt = check_format(fmt)
    target = target_from(dsn)
    status: SetupStatus
    if apply:
        restart = _embedded_restart(target)
        status = apply_pg_stat_statements_setup(
            target,
            may_restart=restart is not None,
            restart=restart,
            announce=lambda sql: print_text(f"running: {sql}", "dim", stderr=True),
        )
    else:
        status = pg_stat_statements_status(target)
    _print_status(status, fmt)
    if not status.ready:
        raise typer.Exit(1)
