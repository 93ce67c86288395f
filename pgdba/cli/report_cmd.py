"""`pgdba report [--out report.md|report.html|report.json] [--format markdown|html|json]`: the weekly report,
with the diff against the previous one."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pgdba.cli.options import DsnOption, StoreOption, target_from
from pgdba.errors import InputError
from pgdba.history.store import open_store
from pgdba.render import to_json
from pgdba.report.render import to_html, to_markdown
from pgdba.report.weekly import WeeklyReport, build_report
from pgdba.text_files import check_writable, write_text_atomically

REPORT_FORMATS = ("markdown", "html", "json")
_FORMAT_OF_SUFFIX = {
    ".md": "markdown",
    ".markdown": "markdown",
    ".html": "html",
    ".htm": "html",
    ".json": "json",
}


def report_format(out: Path | None, fmt: str | None) -> str:
    """The format to write: --format, else the --out file's suffix, else Markdown; they must agree."""
    if fmt is not None and fmt not in REPORT_FORMATS:
        raise InputError(f"unknown --format {fmt!r} for the report: use {', '.join(REPORT_FORMATS)}")
    if out is None:
        return fmt or "markdown"
    implied = _FORMAT_OF_SUFFIX.get(out.suffix.lower())
    if implied is None:
        raise InputError(f"--out {out}: use a .md, .html or .json file name")
    if fmt is not None and fmt != implied:
        raise InputError(f"--out {out} is a {implied} file name but --format is {fmt}")
    return implied


def report_text(weekly: WeeklyReport, fmt: str) -> str:
    if fmt == "json":
        return to_json(weekly.to_shareable_dict()) + "\n"
    return to_html(weekly) if fmt == "html" else to_markdown(weekly)


def report(
    out: Annotated[
        Path | None, typer.Option("--out", help="Where to write it: *.md, *.html or *.json (else stdout)")
    ] = None,
    fmt: Annotated[
        str | None,
        typer.Option("--format", help="markdown, html or json (default: from --out's suffix, else markdown)"),
    ] = None,
    dsn: DsnOption = None,
    store: StoreOption = None,
) -> None:
    """Write the weekly report (score, top findings, top queries, growth, new/fixed/worse since the last
    report) and store it in the history store for next week's diff. JSON is GET /api/v1/report's document.

    Example: pgdba report --out weekly.html
    """
    fmt = report_format(out, fmt)
    if out is not None:
        check_writable(out, "--out file")  # before the report is built and stored for next week's diff
    target = target_from(dsn)
    with open_store(store) as history:
        weekly = build_report(target, history)
    text = report_text(weekly, fmt)
    if out is None:
        print(text, end="")
        return
    write_text_atomically(out, text, "--out file")
    d = weekly.diff
    print(
        f"wrote {out}: score {weekly.score.score:.1f}/10, {len(weekly.result.report.findings)} findings"
        + (
            ""
            if d.previous_at is None
            else f" ({len(d.new)} new, {len(d.fixed)} fixed, {len(d.worse)} worse)"
        )
    )
