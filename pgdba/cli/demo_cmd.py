"""`pgdba demo`: the main job on the embedded PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from pgdba.cli.check_cmd import DEDUCTION_COLUMNS, deduction_rows, score_line
from pgdba.cli.options import FormatOption, check_format, finite
from pgdba.demo.main_job import DemoReport, run_demo
from pgdba.render import Column, console, print_json, print_report, print_rows, print_text
from pgdba.units import format_ms


def demo(
    scale: Annotated[
        float, typer.Option(parser=finite(min=0.001, max=20), help="Data scale (1.0: ~1M BehaviorLog rows)")
    ] = 1.0,
    rounds: Annotated[int, typer.Option(help="Workload rounds per run", min=1, max=10_000)] = 30,
    workers: Annotated[int, typer.Option(help="Concurrent application workers", min=1, max=64)] = 8,
    apply: Annotated[
        bool, typer.Option("--apply/--no-apply", help="Create the advised indexes and re-run")
    ] = True,
    dir: Annotated[Path | None, typer.Option("--dir", help="Embedded cluster data root")] = None,
    fmt: FormatOption = "table",
) -> None:
    """Build the e-learning demo on the embedded PostgreSQL, run its workload, find what hurts, fix it,
    and measure the difference.

    Example: pgdba demo --scale 0.2 --rounds 10
    """
    fmt = check_format(fmt)
    err = console(stderr=True)
    with Progress(
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task("starting", total=None)

        def progress(step: str, done: int, total: int) -> None:
            bar.update(task, description=f"  {step}", completed=done, total=total)

        def status(text: str) -> None:
            err.print(Text.assemble(("›", "bold"), f" {text}"))

        report = run_demo(
            scale=scale,
            rounds=rounds,
            workers=workers,
            apply=apply,
            data_root=dir,
            progress=progress,
            status=status,
        )
    if fmt == "json":
        print_json(report.to_dict())
        return
    _print_report(report, fmt)


def _print_report(report: DemoReport, fmt: str) -> None:
    out = console()
    build = report.build
    out.print(
        f"\n[bold]e-learning database[/bold]: {build.total_rows:,} rows in {len(build.row_counts)} tables "
        f"(BehaviorLog {build.row_counts.get('BehaviorLog', 0):,}), built in {build.total_seconds:.1f} s"
    )
    print_text(f"dsn: {report.dsn}\n")
    out.print(f"[bold]{score_line(report.score)}[/bold]")
    print_rows(
        deduction_rows(report.score), DEDUCTION_COLUMNS, fmt, title="Deductions", empty="no deductions"
    )
    print_report(report.checkup.report, fmt, title="Check-up findings")
    analysis = report.analysis
    rows = [
        {
            "query": rec.short_query(80),
            "calls": rec.stats.calls,
            "mean": rec.stats.mean_ms,
            "issues": [i.type for i in rec.issues],
            "advice": [r.description for r in rec.recommendations if r.action == "create_index"],
        }
        for rec in analysis.recommendations
    ]
    print_rows(
        rows,
        [
            Column("query", "query"),
            Column("calls", "calls", "right"),
            Column("mean", "mean ms", "right"),
            Column("issues", "issues"),
            Column("advice", "index advice"),
        ],
        fmt,
        title=f"What hurts: {len(rows)} of {analysis.analyzed} statements have an issue (threshold 100 ms)",
    )
    n_plus_one = report.n_plus_one_found()
    print_text(
        f"N+1 pattern: {'found: ' + ' | '.join(' '.join(q.split())[:90] for q in n_plus_one) if n_plus_one else 'not found'}"
    )
    if report.applied:
        advice = report.advice
        if advice is not None:
            out.print(
                f"\n[bold]Index advice[/bold]: estimated workload cost {advice.cost_before:,.0f} → "
                f"{advice.cost_after:,.0f} with {len(advice.recommendations)} index(es), {advice.runtime_s:.1f} s"
            )
        out.print("\n[bold]Applied indexes[/bold]")
        for index in report.applied:
            print_text(f"  {index.sql}  ({index.seconds:.1f} s)")
        found = report.planted_found()
        out.print(f"planted missing indexes served: {sum(1 for v in found.values() if v)}/{len(found)}")
        for name, served_by in found.items():
            print_text(f"  {name}: {'✓ by ' + served_by if served_by else '✗ not advised'}")
    if report.after is not None:
        before, after = report.before.scenarios, report.after.scenarios
        timing_rows = [
            {
                "scenario": name,
                "calls": before[name].calls,
                "before": before[name].mean_ms,
                "after": after[name].mean_ms if name in after else None,
                "speedup": (before[name].mean_ms / after[name].mean_ms)
                if name in after and after[name].mean_ms
                else None,
            }
            for name in before
        ]
        timing_rows.append(
            {
                "scenario": "whole workload (wall)",
                "calls": report.before.calls,
                "before": report.before.elapsed_s * 1000,
                "after": report.after.elapsed_s * 1000,
                "speedup": report.before.elapsed_s / report.after.elapsed_s
                if report.after.elapsed_s
                else None,
            }
        )
        print_rows(
            timing_rows,
            [
                Column("scenario", "scenario"),
                Column("calls", "calls", "right"),
                Column("before", "mean ms before", "right"),
                Column("after", "mean ms after", "right"),
                Column("speedup", "×", "right"),
            ],
            fmt,
            title="Before / after the advised indexes",
        )
    out.print(
        "\n[bold]Steps[/bold]: "
        + ", ".join(f"{k} {format_ms(v * 1000)}" for k, v in report.step_seconds.items())
    )
