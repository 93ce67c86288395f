"""Renderers: table (Rich), JSON and Markdown. A renderer formats what it is given and computes nothing.

Values from the database (names, query text, messages) reach Rich only as `rich.text.Text`, never as markup:
a table named `evil[/red]` is shown as is, not parsed as a closing tag.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from pgdba.findings import Report, Severity

FORMATS = ("table", "json", "markdown")
_SEVERITY_STYLE = {Severity.CRITICAL: "bold red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    justify: str = "left"


def console(stderr: bool = False) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    # emoji=False: a name such as `:fire:` stays text; pgdba writes no emoji codes itself.
    return Console(
        file=stream, width=None if stream.isatty() else 160, highlight=False, soft_wrap=False, emoji=False
    )


def print_text(text: str, style: str = "", *, stderr: bool = False) -> None:
    """Print text literally (no markup is parsed), in one Rich style such as "dim" or "bold"."""
    console(stderr).print(Text(text, style=style))


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, Enum):
        return value.value
    if hasattr(value, "to_dict"):
        return value.to_dict()
    return str(value)


def to_json(data: Any) -> str:
    return json.dumps(data, indent=2, default=_json_default, ensure_ascii=False)


def print_json(data: Any) -> None:
    sys.stdout.write(to_json(data) + "\n")


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, list | tuple):
        return ", ".join(cell(v) for v in value)
    return str(value)


def markdown_table(rows: Sequence[dict[str, Any]], columns: Sequence[Column]) -> str:
    def escape(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(c.header for c in columns) + " |"]
    lines.append("| " + " | ".join("---:" if c.justify == "right" else "---" for c in columns) + " |")
    for row in rows:
        lines.append("| " + " | ".join(escape(cell(row.get(c.key))) for c in columns) + " |")
    return "\n".join(lines)


def print_rows(
    rows: Sequence[dict[str, Any]],
    columns: Sequence[Column],
    fmt: str,
    *,
    title: str = "",
    json_data: Any = None,
    empty: str = "nothing to report",
) -> None:
    """Print rows in the chosen format; json prints json_data (the documented shape) when given."""
    if fmt == "json":
        print_json(json_data if json_data is not None else list(rows))
        return
    if fmt == "markdown":
        if title:
            print(f"## {title}\n")
        print(markdown_table(rows, columns) if rows else f"_{empty}_")
        return
    if not rows:
        print_text(f"{title + ': ' if title else ''}{empty}")
        return
    table = Table(title=Text(title) if title else None, title_justify="left", show_lines=False)
    for column in columns:
        table.add_column(Text(column.header), justify=column.justify)  # type: ignore[arg-type]
    for row in rows:
        table.add_row(*(Text(cell(row.get(c.key))) for c in columns))
    console().print(table)


def print_report(report: Report, fmt: str, *, title: str = "Findings") -> None:
    """Findings grouped by area, worst first."""
    if fmt == "json":
        print_json(report.to_dict())
        return
    findings = report.sorted_findings()
    if fmt == "markdown":
        print(f"## {title}\n")
        for f in findings:
            print(f"- **{f.severity.value}** `{f.code}` {f.title}" + (f" — `{f.object}`" if f.object else ""))
            if f.recommendation:
                print(f"  - {f.recommendation}")
            if f.sql:
                print(f"  - `{f.sql}`")
        for s in report.skipped:
            print(f"- _skipped_ `{s.check}`: {s.reason}")
        for note in report.notes:
            print(f"- _note_: {note}")
        return
    out = console()
    out.print(Text(title + ("" if findings else ": none"), style="bold"))
    area = None
    for f in findings:
        if f.area != area:
            area = f.area
            out.print()
            out.print(Text(area, style="bold underline"))
        severity = (f"{f.severity.value:<8}", _SEVERITY_STYLE[f.severity])
        out.print(Text.assemble("  ", severity, f" {f.title}" + (f"  ({f.object})" if f.object else "")))
        if f.recommendation:
            out.print(Text(f"           → {f.recommendation}"))
        if f.sql:
            out.print(Text(f"           {f.sql}"))
    for s in report.skipped:
        out.print(Text(f"skipped {s.check}: {s.reason}", style="dim"))
    for note in report.notes:
        out.print(Text(f"note: {note}", style="dim"))
