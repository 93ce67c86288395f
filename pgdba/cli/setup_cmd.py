"""`pgdba setup pg-stat-statements [--apply]` and `pgdba snapshot`."""

from __future__ import annotations

import typer

from pgdba.cli.options import ApplyOption, DsnOption, FormatOption, check_format, target_from
from pgdba.embedded import EmbeddedCluster, is_embedded_target
from pgdba.render import Column, console, print_rows
from pgdba.setup import SetupStatus, apply_pg_stat_statements_setup, pg_stat_statements_status

app = typer.Typer(help="Check and enable what pgdba needs on the server.", no_args_is_help=True)


@app.command("pg-stat-statements")
def pg_stat_statements(
    dsn: DsnOption = None, apply: ApplyOption = False, fmt: FormatOption = "table"
) -> None:
    """Say exactly what is missing for query statistics; with --apply, fix what this role may fix.

    Example: pgdba setup pg-stat-statements --apply
    """
    fmt = check_format(fmt)
    target = target_from(dsn)
    status: SetupStatus
    if apply:
        before = pg_stat_statements_status(target)
        for step in before.steps:
            if step.sql and step.can_apply:
                console(stderr=True).print(f"[dim]running: {step.sql}[/dim]", markup=True)
        embedded = is_embedded_target(target)
        status = apply_pg_stat_statements_setup(target, may_restart=embedded is not None)
        if status.restart_required and embedded is not None:
            EmbeddedCluster(embedded).restart()
            status.restarted = True
            status.notes.append("restarted the embedded cluster to load pg_stat_statements")
            status.ready = pg_stat_statements_status(target).ready
    else:
        status = pg_stat_statements_status(target)
    rows = [{"code": s.code, "problem": s.problem, "fix": s.sql or s.fix} for s in status.steps]
    title = "pg_stat_statements is ready" if status.ready else "pg_stat_statements is not ready"
    print_rows(
        rows,
        [Column("code", "missing"), Column("problem", "problem"), Column("fix", "fix")],
        fmt,
        title=title,
        json_data=status.to_dict(),
        empty="nothing is missing",
    )
    if fmt == "table":
        for note in status.notes:
            console().print(f"note: {note}", markup=False)
    if not status.ready and not apply:
        raise typer.Exit(1)
