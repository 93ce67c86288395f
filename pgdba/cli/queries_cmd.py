"""`pgdba queries …`: the query-optimizer report and the statement checks."""

from __future__ import annotations

from typing import Annotated

import typer

from pgdba.cli.options import DsnOption, FormatOption, StoreOption, check_format, target_from
from pgdba.history.store import open_store
from pgdba.optimizer import analyze_queries
from pgdba.render import Column, print_rows

app = typer.Typer(help="Query statistics from pg_stat_statements.", no_args_is_help=True)


@app.command()
def analyze(
    threshold: Annotated[
        float, typer.Option(help="Mean execution time in ms that counts as slow", min=0)
    ] = 100.0,
    dsn: DsnOption = None,
    fmt: FormatOption = "table",
    store: StoreOption = None,
    since_snapshot: Annotated[
        bool, typer.Option("--since-snapshot/--cumulative", help="Use deltas since the last `pgdba snapshot`")
    ] = True,
    limit: Annotated[int, typer.Option(help="At most this many statements", min=1, max=10_000)] = 50,
) -> None:
    """The optimizer report: slow queries, low cache hit, N+1, unstable plans, and what to do.

    Example: pgdba queries analyze --threshold 100 --format json
    """
    fmt = check_format(fmt)
    target = target_from(dsn)
    history = open_store(store) if since_snapshot else None
    try:
        report = analyze_queries(target, threshold_ms=threshold, store=history, limit=limit)
    finally:
        if history:
            history.close()
    rows = [
        {
            "query": rec.short_query(70),
            "calls": rec.stats.calls,
            "mean": rec.stats.mean_ms,
            "total": rec.stats.total_ms,
            "hit": rec.stats.cache_hit_ratio,
            "issues": [i.type for i in rec.issues],
            "advice": [r.description for r in rec.recommendations],
        }
        for rec in report.recommendations
    ]
    columns = [
        Column("query", "query"),
        Column("calls", "calls", "right"),
        Column("mean", "mean ms", "right"),
        Column("total", "total ms", "right"),
        Column("hit", "cache hit %", "right"),
        Column("issues", "issues"),
        Column("advice", "recommendations"),
    ]
    title = f"{report.analyzed} statements analysed ({report.window_source}), threshold {threshold:g} ms"
    print_rows(rows, columns, fmt, title=title, json_data=report.to_dict(), empty="no statement has an issue")
