"""`pgdba queries …`: the query-optimizer report and the statement checks."""

from __future__ import annotations

from typing import Annotated

import typer

from pgdba.cli.options import DsnOption, FormatOption, StoreOption, check_format, finite, target_from
from pgdba.history.store import open_store
from pgdba.optimizer import analyze_queries
from pgdba.render import Column, print_rows

app = typer.Typer(help="Query statistics from pg_stat_statements.", no_args_is_help=True)


@app.command()
def analyze(
    threshold: Annotated[
        float, typer.Option(parser=finite(min=0), help="Mean execution time in ms that counts as slow")
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
    print_rows(
        rows,
        columns,
        fmt,
        title=title,
        json_data=report.to_dict(),
        empty="no statement has an issue",
        notes=report.notes,
    )


@app.command()
def slow(
    dsn: DsnOption = None,
    fmt: FormatOption = "table",
    threshold: Annotated[
        float,
        typer.Option(
            parser=finite(min=0), help="Mean ms that is a warning from 5 calls on (one slow call is no trend)"
        ),
    ] = 100.0,
    min_calls: Annotated[int, typer.Option(help="PgHero's rule: at least this many calls …", min=1)] = 100,
    min_mean: Annotated[float, typer.Option(parser=finite(min=0), help="… and at least this mean ms")] = 20.0,
) -> None:
    """Slow statements: mean ≥ --threshold ms over at least 5 calls (warning), or ≥ --min-calls calls and
    ≥ --min-mean ms (info). `queries analyze` lists every statement over its threshold, whatever its calls.

    Example: pgdba queries slow --threshold 250
    """
    from pgdba.cli.check_cmd import print_selected_checks

    options = {"query.slow": {"threshold_ms": threshold, "min_calls": min_calls, "min_mean_ms": min_mean}}
    print_selected_checks(dsn, fmt, {"query.slow"}, "Slow queries", options, required={"query.slow"})


@app.command("n-plus-one")
def n_plus_one(
    dsn: DsnOption = None,
    fmt: FormatOption = "table",
    min_calls: Annotated[int, typer.Option(help="Lookups called at least this many times", min=1)] = 500,
) -> None:
    """N+1 patterns: a one-row lookup by key called once per row of a list query on a related table.

    Example: pgdba queries n-plus-one --min-calls 200
    """
    from pgdba.cli.check_cmd import print_selected_checks

    print_selected_checks(
        dsn,
        fmt,
        {"query.n_plus_one"},
        "N+1 queries",
        {"query.n_plus_one": {"min_calls": min_calls}},
        required={"query.n_plus_one"},
    )


@app.command()
def cache(
    dsn: DsnOption = None,
    fmt: FormatOption = "table",
    min_ratio: Annotated[
        float,
        typer.Option(
            parser=finite(min=0, max=100), help="Hit percentage below which a statement is reported"
        ),
    ] = 90.0,
) -> None:
    """Statements with a low shared-buffer cache hit ratio, and the database's index hit rate.

    Example: pgdba queries cache --min-ratio 95
    """
    from pgdba.cli.check_cmd import print_selected_checks

    print_selected_checks(
        dsn,
        fmt,
        {"query.low_cache_hit", "index.low_hit_rate"},
        "Cache hit ratio",
        {"query.low_cache_hit": {"min_ratio": min_ratio}},
        required={"query.low_cache_hit"},
    )
