"""`pgdba report --out report.md|report.html`: the weekly report, with the diff against the previous one."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pgdba.cli.options import DsnOption, StoreOption, target_from
from pgdba.errors import InputError
from pgdba.history.store import open_store
from pgdba.report.render import to_html, to_markdown
from pgdba.report.weekly import build_report
from pgdba.text_files import check_writable, write_text_atomically


def report(
    out: Annotated[Path, typer.Option("--out", help="Where to write it: *.md or *.html")],
    dsn: DsnOption = None,
    store: StoreOption = None,
) -> None:
    """Write the weekly report (score, top findings, top queries, growth, new/fixed/worse since the last
    report) and store it in the history store for next week's diff.

    Example: pgdba report --out weekly.html
    """
    suffix = out.suffix.lower()
    if suffix not in (".md", ".markdown", ".html", ".htm"):
        raise InputError(f"--out {out}: use a .md or .html file name")
    check_writable(out, "--out file")  # before the report is built and stored for next week's diff
    target = target_from(dsn)
    with open_store(store) as history:
        weekly = build_report(target, history)
    text = to_html(weekly) if suffix in (".html", ".htm") else to_markdown(weekly)
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
