"""`pgdba check` (every check, score, findings by area) and `pgdba health` (the score with deductions)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Annotated, Any

import typer

from pgdba.checkup import CheckupResult, parse_overrides, run_checkup
from pgdba.cli.options import (
    DsnOption,
    FailOnOption,
    FormatOption,
    LockTimeoutOption,
    StatementTimeoutOption,
    StoreOption,
    check_fail_on,
    check_format,
    target_from,
)
from pgdba.errors import NotAvailable
from pgdba.findings import SCHEMA_VERSION, Report
from pgdba.history.store import open_store
from pgdba.render import Column, console, md_code, md_text, print_json, print_report, print_rows
from pgdba.report.score import HealthScore, health_score

ThresholdOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        help="Change a threshold: CHECK.PARAM=VALUE, e.g. --set query.slow.threshold_ms=250 (repeatable)",
    ),
]


def _run(
    dsn: str | None,
    store: str | None,
    thresholds: list[str] | None,
    statement_timeout: int,
    lock_timeout: int,
) -> tuple[CheckupResult, HealthScore]:
    options = parse_overrides(thresholds or [])
    target = target_from(dsn, statement_timeout, lock_timeout)
    with open_store(store) as history:
        result = run_checkup(target, store=history, options=options)
    return result, health_score(result)


def score_line(score: HealthScore) -> str:
    cap = ""
    if score.cap is not None and score.uncapped > score.cap:
        cap = f", capped at {score.cap:g} ({'critical' if score.cap < 7 else 'warning'} findings)"
    return (
        f"Health score {score.score:.1f}/10{cap} — {score.checks_run} checks run "
        f"({score.coverage:.0%} of the weight), {len(score.skipped)} skipped"
    )


def deduction_rows(score: HealthScore) -> list[dict[str, Any]]:
    return [
        {
            "check": d.check,
            "severity": d.severity.value,
            "findings": d.findings,
            "weight": d.weight,
            "points": -d.points,
        }
        for d in score.deductions
    ]


DEDUCTION_COLUMNS = [
    Column("check", "check"),
    Column("severity", "worst"),
    Column("findings", "findings", "right"),
    Column("weight", "weight", "right"),
    Column("points", "points", "right"),
]


def check(
    dsn: DsnOption = None,
    fmt: FormatOption = "table",
    fail_on: FailOnOption = "critical",
    store: StoreOption = None,
    thresholds: ThresholdOption = None,
    statement_timeout: StatementTimeoutOption = 30_000,
    lock_timeout: LockTimeoutOption = 500,
) -> None:
    """Run every check: health score, findings grouped by area (worst first), skipped checks and why.

    Exit 1 when a finding is at least --fail-on (default critical). Example: pgdba check --fail-on warning
    """
    fmt = check_format(fmt)
    severity = check_fail_on(fail_on)
    result, score = _run(dsn, store, thresholds, statement_timeout, lock_timeout)
    if fmt == "json":
        print_json({**result.report.to_dict(), "score": score.to_dict()})
    else:
        if fmt == "markdown":
            print(f"**{score_line(score)}**\n")
        else:
            console().print(f"[bold]{score_line(score)}[/bold]")
        print_report(result.report, fmt, title="Findings")
    if result.report.fails(severity):
        raise typer.Exit(1)


def health(
    dsn: DsnOption = None,
    fmt: FormatOption = "table",
    store: StoreOption = None,
    thresholds: ThresholdOption = None,
    statement_timeout: StatementTimeoutOption = 30_000,
    lock_timeout: LockTimeoutOption = 500,
) -> None:
    """The health score out of 10, every deduction with its weight, and the checks that could not run.

    Example: pgdba health --format json
    """
    fmt = check_format(fmt)
    _, score = _run(dsn, store, thresholds, statement_timeout, lock_timeout)
    if fmt == "json":
        print_json({**score.to_dict(), "schema_version": SCHEMA_VERSION})
        return
    if fmt == "markdown":
        print(f"**{score_line(score)}**\n")
    else:
        console().print(f"[bold]{score_line(score)}[/bold]")
    print_rows(deduction_rows(score), DEDUCTION_COLUMNS, fmt, title="Deductions", empty="no deductions")
    if fmt == "markdown" and score.skipped:
        print()
    for skipped in score.skipped:
        if fmt == "markdown":
            print(f"- skipped {md_code(skipped['check'])}: {md_text(skipped['reason'])}")
        else:
            print(f"skipped {skipped['check']}: {skipped['reason']}")


def print_selected_checks(
    dsn: str | None,
    fmt: str,
    checks: set[str],
    title: str,
    options: dict[str, dict[str, Any]] | None = None,
    store: str | None = None,
    required: Collection[str] = (),
) -> None:
    """Run some checks of the check-up and print their findings (used by `queries slow`, `indexes duplicate` …).

    A `required` check that could not run is an error (exit 2 with the reason), not an empty list."""
    fmt = check_format(fmt)
    target = target_from(dsn)
    if store is None:
        result = run_checkup(target, options=options, only=checks)
    else:
        with open_store(store) as history:
            result = run_checkup(target, store=history, options=options, only=checks)
    fail_if_skipped(result.report, required)
    print_report(result.report, fmt, title=title)


def fail_if_skipped(report: Report, required: Collection[str]) -> None:
    """Raise NotAvailable with the reason of the first required check that was skipped: a command about that
    check alone would otherwise print "none", as if it had looked and found nothing."""
    for skipped in report.skipped:
        if skipped.check in required:
            raise NotAvailable(skipped.reason)
