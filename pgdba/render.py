"""Renderers: table (Rich), JSON and Markdown. A renderer formats what it is given and computes nothing.

Values from the database (names, query text, messages) reach Rich only as `rich.text.Text`, never as markup:
a table named `evil[/red]` is shown as is, not parsed as a closing tag. In Markdown they go through `md_text`
(prose, table cells), `md_code` (inline code) or `md_fenced` (SQL), so a name cannot add HTML, end a list
item, split a table row or close a code span.
"""

from __future__ import annotations

import json
import re
import sys
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

from pgdba.findings import Finding, Report, Severity

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


_VISIBLE_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_BACKSLASHED = frozenset("\\`*_[]|~")
# `<` opens raw HTML or an autolink only with something other than a space after it, `&` an entity only
# with a letter, digit or `#`: those get a backslash; `a > b`, `x < 10` and `a & b` stay as they are.
_OPENS_MARKUP = {"<": re.compile(r"\S"), "&": re.compile(r"[0-9A-Za-z#]")}
# What would start a heading, list, block quote, thematic break or setext underline when it opens a line
# (an ordered-list marker needs a space or the line's end after it; "0.07" stays as it is).
_BLOCK_START = re.compile(r"^(\d{1,9}(?=[.)](?:[ \t]|$))|(?=[#+=>-]))")


def visible_text(text: str) -> str:
    """The text on one line: backslash, newline, CR, tab and other control characters written as escapes
    (\\\\, \\n, \\r, \\t, \\xNN, \\uNNNN), so a name with a newline stays recognisable and unambiguous."""
    return "".join(_visible_char(ch) for ch in text)


def _visible_char(ch: str) -> str:
    if ch in _VISIBLE_ESCAPES:
        return _VISIBLE_ESCAPES[ch]
    if unicodedata.category(ch) == "Cc" or ch in "\u2028\u2029":
        return f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}"
    return ch


def md_text(text: str, *, in_table: bool = False) -> str:
    """Text for Markdown prose or (in_table) a table cell: renders as `visible_text(text)`, never as HTML,
    emphasis, a link, a code span, a table cell break or a new block. Only what could be markup is
    backslash-escaped, so the raw Markdown reads as the text (`> 500`, not `&gt; 500`)."""
    return _line_safe(_md_escaped(visible_text(text)), in_table=in_table)


# a code span as pgdba writes one in its own sentences: a backtick pair on one line, no backtick inside
CODE_SPAN = re.compile(r"`([^`\n\r]+)`")


def md_prose(text: str, *, in_table: bool = False) -> str:
    """md_text for pgdba's own sentences (notes, reasons, recommendations), whose `backticked` commands and
    names render as inline code (md_code) instead of literal backticks. The rest is escaped as md_text does:
    a name with backticks can at most turn part of itself into a code span, never into markup."""
    pieces: list[str] = []
    start = 0
    for span in CODE_SPAN.finditer(text):
        pieces.append(_md_escaped(visible_text(text[start : span.start()])))
        pieces.append(md_code(span.group(1), in_table=in_table))
        start = span.end()
    pieces.append(_md_escaped(visible_text(text[start:])))
    return _line_safe("".join(pieces), in_table=in_table)


def _md_escaped(visible: str) -> str:
    return "".join(_md_char(visible, i) for i in range(len(visible)))


def _line_safe(escaped: str, *, in_table: bool) -> str:
    """No block opens where the text starts a line, and its leading spaces are kept (as &#32;)."""
    if not in_table:  # a cell holds inline content only: `> 500` there is no block quote
        escaped = _BLOCK_START.sub(r"\g<1>\\", escaped, count=1)
    stripped = escaped.lstrip(" ")
    return "&#32;" * (len(escaped) - len(stripped)) + stripped


def _md_char(text: str, i: int) -> str:
    ch = text[i]
    if ch in _OPENS_MARKUP:
        return "\\" + ch if _OPENS_MARKUP[ch].match(text, i + 1) else ch
    if ch == "_" and 0 < i < len(text) - 1 and text[i - 1].isalnum() and text[i + 1].isalnum():
        return ch  # inside a word `_` can neither open nor close emphasis: pg_stat_activity stays readable
    return "\\" + ch if ch in _BACKSLASHED else ch


def _fence(text: str, least: int) -> str:
    """A run of backticks longer than any inside the text (CommonMark), and at least `least` long."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    return "`" * max(least, longest + 1)


def md_code(text: str, *, in_table: bool = False) -> str:
    """Inline code showing `visible_text(text)`: stripping the fence (and one padding space) gives it back.
    Never put it first on a line: a fence of three backticks there would open a code block."""
    content = visible_text(text) or " "
    fence = _fence(content, 1)
    if content.strip(" ") and (content[0] == "`" or content[-1] == "`" or content[0] == content[-1] == " "):
        content = f" {content} "  # CommonMark strips one space on each side
    if in_table:
        content = content.replace("|", "\\|")  # GFM splits cells before parsing code spans
    return f"{fence}{content}{fence}"


def md_fenced(text: str, info: str = "sql", *, indent: int = 0) -> str:
    """A fenced code block holding text exactly (newlines kept), its fence longer than any backtick run inside;
    indent is the content column of the list item the block belongs to."""
    fence = _fence(text, 3)
    margin = " " * indent
    lines = [f"{fence}{info}", *text.split("\n"), fence]
    return "\n".join(margin + line for line in lines)


def markdown_table(rows: Sequence[dict[str, Any]], columns: Sequence[Column]) -> str:
    lines = ["| " + " | ".join(md_text(c.header, in_table=True) for c in columns) + " |"]
    lines.append("| " + " | ".join("---:" if c.justify == "right" else "---" for c in columns) + " |")
    for row in rows:
        lines.append("| " + " | ".join(md_text(cell(row.get(c.key)), in_table=True) for c in columns) + " |")
    return "\n".join(lines)


# Above this many rows a table is printed as plain aligned text: Rich measures and wraps every cell to fit the
# terminal, which took 15 s for the 10,400 indexes of a schema-per-tenant catalog (json took under a second).
LARGE_TABLE_ROWS = 1000
PLAIN_CELL_WIDTH = 80  # a longer cell is cut, its end an ellipsis


def plain_table(rows: Sequence[dict[str, Any]], columns: Sequence[Column]) -> str:
    """Rows as aligned text, a row a line: a header, a rule, cells on one line each (visible_text) and cut at
    PLAIN_CELL_WIDTH characters."""

    def shown(value: Any) -> str:
        text = visible_text(cell(value))
        return text if cell_len(text) <= PLAIN_CELL_WIDTH else text[: PLAIN_CELL_WIDTH - 1] + "…"

    grid = [
        [visible_text(c.header) for c in columns],
        *([shown(row.get(c.key)) for c in columns] for row in rows),
    ]
    widths = [max(cell_len(line[n]) for line in grid) for n in range(len(columns))]

    def line(cells: Sequence[str]) -> str:
        padded = [
            " " * (width - cell_len(text)) + text
            if column.justify == "right"
            else text + " " * (width - cell_len(text))
            for text, width, column in zip(cells, widths, columns, strict=True)
        ]
        return "  ".join(padded).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([line(grid[0]), rule, *(line(cells) for cells in grid[1:])]) + "\n"


def print_rows(
    rows: Sequence[dict[str, Any]],
    columns: Sequence[Column],
    fmt: str,
    *,
    title: str = "",
    json_data: Any = None,
    empty: str = "nothing to report",
    notes: Sequence[str] = (),
) -> None:
    """Print rows in the chosen format; json prints json_data (the documented shape) when given, which
    carries its own notes; the table and markdown formats print `notes` after the rows."""
    if fmt == "json":
        print_json(json_data if json_data is not None else list(rows))
        return
    if fmt == "markdown":
        if title:
            print(f"## {md_text(title)}\n")
        print(markdown_table(rows, columns) if rows else f"_{md_text(empty)}_")
        for note in notes:
            print(f"\n_{md_prose(note)}_")
        return
    if not rows:
        print_text(f"{title + ': ' if title else ''}{empty}")
    elif len(rows) > LARGE_TABLE_ROWS:
        print_text(title, style="bold")
        sys.stdout.write(plain_table(rows, columns))
    else:
        table = Table(title=Text(title) if title else None, title_justify="left", show_lines=False)
        for column in columns:
            table.add_column(Text(column.header), justify=column.justify)  # type: ignore[arg-type]
        for row in rows:
            table.add_row(*(Text(cell(row.get(c.key))) for c in columns))
        console().print(table)
    for note in notes:
        console().print(Text(note, style="dim"))


def finding_markdown(finding: Finding) -> list[str]:
    """One finding as a Markdown list item: the recommendation a nested item, the fix SQL a fenced block."""
    head = f"- **{finding.severity.value}** {md_code(finding.code)} {md_text(finding.title)}"
    lines = [head + (f" — {md_code(finding.object)}" if finding.object else "")]
    if finding.recommendation:
        lines.append(f"  - {md_prose(finding.recommendation)}")
    if finding.sql:
        lines.append(md_fenced(finding.sql, "sql", indent=2))
    return lines


def report_markdown(report: Report, *, title: str = "Findings") -> str:
    """Findings worst first, then the skipped checks and notes, as one Markdown list under a heading."""
    lines = [f"## {md_text(title)}", ""]
    for finding in report.sorted_findings():
        lines += finding_markdown(finding)
    lines += [f"- _skipped_ {md_code(s.check)}: {md_prose(s.reason)}" for s in report.skipped]
    lines += [f"- _note_: {md_prose(note)}" for note in report.notes]
    return "\n".join(lines)


def print_report(report: Report, fmt: str, *, title: str = "Findings") -> None:
    """Findings grouped by area, worst first."""
    if fmt == "json":
        print_json(report.to_dict())
        return
    findings = report.sorted_findings()
    if fmt == "markdown":
        print(report_markdown(report, title=title))
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
        for line in (f.sql or "").splitlines():  # each statement of a several-step fix indented
            out.print(Text(f"           {line}"))
    for s in report.skipped:
        out.print(Text(f"skipped {s.check}: {s.reason}", style="dim"))
    for note in report.notes:
        out.print(Text(f"note: {note}", style="dim"))
