"""`pgdba pool advise|bench`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from pgdba.cli.options import (
    DsnOption,
    FailOnOption,
    FormatOption,
    check_fail_on,
    check_format,
    finite,
    target_from,
)
from pgdba.errors import InputError
from pgdba.findings import Report
from pgdba.pool.advice import (
    MAX_BURST_FACTOR,
    MAX_CALL_MS,
    MAX_INSTANCES,
    MAX_PEAK_CALLS_PER_S,
    MAX_SERVER_CPUS,
    MAX_WORKERS_PER_INSTANCE,
)
from pgdba.pool.advise_server import PoolAdviceReport, advise_pool
from pgdba.pool.chart import load_test_svg
from pgdba.pool.demo_workload import demo_workload
from pgdba.pool.factory import MAX_STATEMENT_TIMEOUT_MS
from pgdba.pool.load_test import (
    MAX_CLIENTS,
    MAX_CONNECT_TIMEOUT_S,
    MAX_REQUESTS,
    MAX_TIME_LIMIT_S,
    LoadTestConfig,
    LoadTestReport,
    check_bench_target,
    surge_load_test,
)
from pgdba.pool.server_limits import MAX_BACKENDS
from pgdba.pool.workload import Workload, statements_from_file
from pgdba.render import Column, print_json, print_report, print_rows, to_json
from pgdba.target import Target
from pgdba.text_files import check_writable, write_text_atomically

app = typer.Typer(help="Connection pool: size advice and a bounded surge load test.", no_args_is_help=True)


@app.command()
def advise(
    instances: Annotated[
        int, typer.Option(min=1, max=MAX_INSTANCES, help="application instances sharing the server")
    ] = 1,
    workers_per_instance: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=MAX_WORKERS_PER_INSTANCE,
            help="workers per instance (each holds at most one connection)",
        ),
    ] = None,
    application_name: Annotated[
        str | None, typer.Option(help="the application's application_name (its connections are not 'other')")
    ] = None,
    server_cpus: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=MAX_SERVER_CPUS,
            help="CPU cores of the database server (SQL cannot tell; loopback: this machine)",
        ),
    ] = None,
    peak_rate: Annotated[
        float | None,
        typer.Option(
            parser=finite(min=0, max=MAX_PEAK_CALLS_PER_S),
            help="peak statements per second across all instances (Little's law)",
        ),
    ] = None,
    query_ms: Annotated[
        float | None,
        typer.Option(
            parser=finite(min=0, max=MAX_CALL_MS),
            help="in-database ms per statement (default: measured by pg_stat_statements)",
        ),
    ] = None,
    pool_size: Annotated[
        int | None,
        typer.Option(
            min=1, max=MAX_BACKENDS, help="the pool size configured now, checked against the server limit"
        ),
    ] = None,
    headroom: Annotated[
        int | None,
        typer.Option(
            min=0,
            max=MAX_BACKENDS,
            help="connections kept free for admin/monitoring (default max(3, 10 % of max_connections))",
        ),
    ] = None,
    burst_factor: Annotated[
        float,
        typer.Option(
            parser=finite(min=1, max=MAX_BURST_FACTOR), help="Little's law result × this, for bursts (≥ 1)"
        ),
    ] = 3.0,
    dsn: DsnOption = None,
    fmt: FormatOption = "table",
    fail_on: FailOnOption = "critical",
) -> None:
    """Recommend the pool size per instance and in total, and say whether a pooler is needed."""
    check_format(fmt)
    severity = check_fail_on(fail_on)
    report = advise_pool(
        target_from(dsn),
        instances=instances,
        workers_per_instance=workers_per_instance,
        application_name=application_name,
        server_cpus=server_cpus,
        peak_calls_per_s=peak_rate,
        mean_call_ms=query_ms,
        current_pool_size=pool_size,
        headroom=headroom,
        burst_factor=burst_factor,
    )
    _print_advice(report, fmt)
    if Report(findings=report.advice.findings).fails(severity):
        raise typer.Exit(1)


def _print_advice(report: PoolAdviceReport, fmt: str) -> None:
    advice = report.advice
    if fmt == "json":
        print_json(report.to_dict())
        return
    steps = [{"rule": s.rule, "arithmetic": s.formula} for s in advice.steps]
    print_rows(
        steps,
        [Column("rule", "rule"), Column("arithmetic", "arithmetic")],
        fmt,
        title=(
            f"Pool size: {advice.per_instance} per instance × {advice.instances} = {advice.total} "
            f"(pooler needed: {'yes' if advice.pooler_needed else 'no'}"
            f"{_bound_by(report)})"
        ),
    )
    if fmt == "markdown":
        print()
    limits = report.limits
    usage = [{"application": k, "connections": v} for k, v in limits.connections_by_application.items()]
    print_rows(
        usage,
        [Column("application", "application"), Column("connections", "connections", "right")],
        fmt,
        title="Client connections now (pg_stat_activity)",
        empty="none besides this session",
    )
    if fmt == "markdown":
        print()
    print_report(Report(findings=advice.findings, notes=advice.notes), fmt, title="Warnings")


def _bound_by(report: PoolAdviceReport) -> str:
    """Which CONNECTION LIMIT binds the advice, when one does (the steps show the server's arithmetic)."""
    binding = report.advice.binding_limit
    if binding == "role":
        return f"; bound by role {report.limits.role_name}'s CONNECTION LIMIT {report.limits.role_connection_limit}"
    if binding == "database":
        return f"; bound by the database's CONNECTION LIMIT {report.limits.database_connection_limit}"
    return ""


def _pool_sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise InputError(f"--pool-sizes takes comma-separated integers, got {text!r}") from None
    if not sizes:
        raise InputError("--pool-sizes is empty")
    return sizes


def _workload(query: Path | None, workload: str | None, target: Target) -> Workload:
    if (query is None) == (workload is None):
        raise InputError("give exactly one of --query FILE or --workload demo")
    if query is not None:
        return statements_from_file(query)
    if workload != "demo":
        raise InputError(f"unknown --workload {workload!r}: the built-in workload is 'demo'")
    return demo_workload(target)


@app.command()
def bench(
    query: Annotated[Path | None, typer.Option(help="SQL file; request i runs statement i mod n")] = None,
    workload: Annotated[
        str | None,
        typer.Option(help="demo: the demo database's traffic and class-start surge (writes: needs --apply)"),
    ] = None,
    pool_sizes: Annotated[
        str, typer.Option(help="comma-separated pool sizes; 0 = direct connections")
    ] = "5,10,20,40",
    clients: Annotated[int, typer.Option(min=1, max=MAX_CLIENTS, help="concurrent clients")] = 200,
    requests: Annotated[
        int, typer.Option(min=1, max=MAX_REQUESTS, help="requests per pool size (upper bound)")
    ] = 2000,
    pattern: Annotated[
        str, typer.Option(help="surge (all clients at once) or steady (ramp + think time)")
    ] = "surge",
    time_limit: Annotated[
        float,
        typer.Option(
            parser=finite(min=0, max=MAX_TIME_LIMIT_S, min_open=True),
            help="seconds per pool size (upper bound)",
        ),
    ] = 60.0,
    timeout: Annotated[
        float,
        typer.Option(
            parser=finite(min=0, max=MAX_CONNECT_TIMEOUT_S, min_open=True),
            help="connection timeout in s (waiting for the pool or the server)",
        ),
    ] = 5.0,
    open_timeout: Annotated[
        float,
        typer.Option(
            parser=finite(min=0, max=MAX_CONNECT_TIMEOUT_S, min_open=True),
            help="seconds for each pool to open all its connections before the surge",
        ),
    ] = 60.0,
    statement_timeout: Annotated[
        int,
        typer.Option(min=1, max=MAX_STATEMENT_TIMEOUT_MS, help="statement_timeout of the test sessions, ms"),
    ] = 60_000,
    max_waiting: Annotated[
        int | None,
        typer.Option(
            min=0,
            max=MAX_REQUESTS,
            help="pool max_waiting, 0 = no limit (default: --clients, so nobody is turned away)",
        ),
    ] = None,
    chart: Annotated[Path | None, typer.Option(help="write a self-contained SVG chart here")] = None,
    out: Annotated[Path | None, typer.Option(help="also write the JSON report here")] = None,
    apply: Annotated[
        bool,
        typer.Option(
            "--apply",
            help="let the workload write (otherwise only plain reads run, each in a READ ONLY transaction)",
        ),
    ] = False,
    dsn: DsnOption = None,
    fmt: FormatOption = "table",
) -> None:
    """Bounded surge load test per pool size: throughput, latency, connection wait, errors, peak connections.

    Each pool opens all its connections before the surge; a size above what the server can give this role
    now is refused (exit 2). Exit 1 when no pool size served every request without errors at its full size
    (no recommendation)."""
    check_format(fmt)
    config = LoadTestConfig(
        pool_sizes=_pool_sizes(pool_sizes),
        clients=clients,
        requests=requests,
        pattern=pattern,
        time_limit_s=time_limit,
        connect_timeout_s=timeout,
        open_timeout_s=open_timeout,
        statement_timeout_ms=statement_timeout,
        max_waiting=max_waiting,
        apply=apply,
    )
    _check_report_files(chart, out)  # before the run, so a typo in a path never costs its results
    target = target_from(dsn)
    check_bench_target(target)  # before the demo workload reads its catalog from the target
    report = surge_load_test(target, _workload(query, workload, target), config)
    if chart is not None:
        write_text_atomically(chart, load_test_svg(report), "--chart file")
    if out is not None:
        write_text_atomically(out, to_json(report.to_dict()) + "\n", "--out file")
    _print_bench(report, fmt)
    if report.recommended_pool_size is None:
        raise typer.Exit(1)


def _check_report_files(chart: Path | None, out: Path | None) -> None:
    if chart is not None:
        check_writable(chart, "--chart file")
    if out is not None:
        check_writable(out, "--out file")
    if chart is not None and out is not None and chart.resolve() == out.resolve():
        raise InputError("--chart and --out name the same file")


BENCH_COLUMNS = [
    Column("size", "pool size", "right"),
    Column("throughput_per_s", "req/s", "right"),
    Column("p50_ms", "p50 ms", "right"),
    Column("p95_ms", "p95 ms", "right"),
    Column("p99_ms", "p99 ms", "right"),
    Column("wait_p99_ms", "wait p99 ms", "right"),
    Column("ok", "ok", "right"),
    Column("timeouts", "timeouts", "right"),
    Column("failed", "failed", "right"),
    Column("not_run", "not run", "right"),
    Column("peak_server_connections", "peak conns", "right"),
]


def _print_bench(report: LoadTestReport, fmt: str) -> None:
    if fmt == "json":
        print_json(report.to_dict())
        return
    rows: list[dict[str, Any]] = []
    for result in report.results:
        row = result.to_dict()
        row["size"] = "direct" if result.mode == "direct" else result.pool_size
        if result.size_reached is False:
            row["peak_server_connections"] = f"{result.peak_server_connections} (< size)"
        rows.append(row)
    cfg = report.config
    print_rows(
        rows,
        BENCH_COLUMNS,
        fmt,
        title=(
            f"{report.workload}: {cfg.requests} requests, {cfg.clients} clients, {cfg.pattern}; "
            f"max_connections {report.server['max_connections']}"
        ),
    )
    for result in report.results:
        for sample in result.error_samples:
            print(f"  {'direct' if result.mode == 'direct' else result.pool_size}: {sample}")
    print(report.recommendation)
