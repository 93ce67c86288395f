"""The human report of a schema check (text and Markdown). It formats a CheckResult and computes nothing."""

from __future__ import annotations

import re

from pgdba.findings import Finding, Severity
from pgdba.render import md_code, md_text
from pgdba.schema import CheckResult
from pgdba.schema.compare import PairResult

_MARK = {Severity.CRITICAL: "❌", Severity.WARNING: "⚠️ ", Severity.INFO: "ℹ️ "}
_NUMBERS = ["1️⃣", "2️⃣", "3️⃣", "4️⃣", "5️⃣", "6️⃣", "7️⃣", "8️⃣", "9️⃣"]
MAX_NOTES = 8


def _counts(pair: PairResult) -> str:
    c = pair.compared
    parts = [f"{c.tables} tables", f"{c.columns} columns", f"{c.indexes} indexes/uniques"]
    if c.foreign_keys:
        parts.append(f"{c.foreign_keys} foreign keys")
    if c.enums:
        parts.append(f"{c.enums} enums")
    return ", ".join(parts)


def _text_fix(finding: Finding) -> list[str]:
    """The finding's fix, indented under it: the recommendation, then its SQL."""
    lines = [f"      ↳ {finding.recommendation}"] if finding.recommendation else []
    if finding.sql:
        lines.extend(f"        {line}" for line in finding.sql.splitlines())
    return lines


def _markdown_fix(finding: Finding) -> list[str]:
    lines = [f"  - fix: {md_text(finding.recommendation)}"] if finding.recommendation else []
    if finding.sql:
        fence = "`" * max(3, _longest_backtick_run(finding.sql) + 1)
        lines.extend(
            ["", f"    {fence}sql", *(f"    {line}" for line in finding.sql.splitlines()), f"    {fence}"]
        )
    return lines


def _longest_backtick_run(text: str) -> int:
    return max((len(run) for run in re.findall(r"`+", text)), default=0)


def text_report(result: CheckResult, *, verbose: bool = False) -> str:
    lines = [f"🔍 Schema consistency check — {len(result.sources)} sources", ""]
    width = max(len(s.label) for s in result.sources)
    for number, source in enumerate(result.sources):
        mark = _NUMBERS[number] if number < len(_NUMBERS) else f"{number + 1}."
        what = "models" if source.kind in ("prisma",) else "tables"
        where = source.location or source.source
        lines.append(
            f"{mark} {source.label:<{width}}  {where}  — {len(source.tables)} {what}, {len(source.enums)} enums"
        )
        notes = source.notes if verbose else source.notes[:MAX_NOTES]
        for note in notes:
            lines.append(f"     ⚠️  {note}")
        if len(source.notes) > len(notes):
            lines.append(
                f"     … and {len(source.notes) - len(notes)} more not evaluated statically (--verbose lists them)"
            )
    lines.append("")
    for pair in result.pairs:
        title = f"{pair.left.label} ↔ {pair.right.label}"
        drift = sorted(pair.drift, key=lambda f: (-f.severity.rank, f.object, f.code))
        info = [f for f in pair.findings if f.severity is Severity.INFO]
        if not drift:
            lines.append(f"{title}: ✅ consistent ({_counts(pair)} compared)")
        else:
            lines.append(f"{title}: ❌ {len(drift)} difference{'s' if len(drift) != 1 else ''}")
            for finding in drift:
                lines.append(f"   {_MARK[finding.severity]} {finding.title}")
                lines.extend(_text_fix(finding))
        if info and verbose:
            lines.extend(f"   {_MARK[Severity.INFO]} {f.title}" for f in info)
        elif info:
            lines.append(
                f"   {_MARK[Severity.INFO]} {len(info)} naming/equivalence notes, not drift (--verbose lists them)"
            )
    lines.append("")
    if result.ignored:
        lines.append(
            f"({len(result.ignored)} finding{'s' if len(result.ignored) != 1 else ''} ignored by ignore rules{' (' + result.config_path + ')' if result.config_path else ''})"
        )
    drifting = [p for p in result.pairs if not p.consistent]
    if not drifting:
        lines.append(f"✅ 100% SCHEMA CONSISTENCY — all {len(result.sources)} sources agree")
        if any(s.notes for s in result.sources):
            lines.append("   (except what is listed above as not evaluated statically)")
    else:
        total = sum(len(p.drift) for p in drifting)
        lines.append(
            f"❌ SCHEMA DRIFT — {total} difference{'s' if total != 1 else ''} in {len(drifting)} of {len(result.pairs)} source pairs"
        )
    return "\n".join(lines)


def markdown_report(result: CheckResult, *, verbose: bool = False) -> str:
    lines = [
        "## Schema consistency",
        "",
        "| # | source | tables | enums | not evaluated |",
        "| ---: | --- | ---: | ---: | ---: |",
    ]
    for number, source in enumerate(result.sources, 1):
        lines.append(
            f"| {number} | {md_code(source.source, in_table=True)} | {len(source.tables)} | {len(source.enums)} "
            f"| {len(source.notes)} |"
        )
    lines.append("")
    for pair in result.pairs:
        status = "✅ consistent" if pair.consistent else f"❌ {len(pair.drift)} differences"
        lines.append(f"### {md_text(pair.left.label)} ↔ {md_text(pair.right.label)}: {status}")
        lines.append("")
        shown: list[Finding] = pair.findings if verbose else pair.drift
        for finding in sorted(shown, key=lambda f: (-f.severity.rank, f.object, f.code)):
            lines.append(f"- **{finding.severity.value}** {md_code(finding.code)} {md_text(finding.title)}")
            lines.extend(_markdown_fix(finding))
        if shown:
            lines.append("")
    lines.append("**✅ 100% schema consistency**" if result.consistent else "**❌ schema drift**")
    return "\n".join(lines)
