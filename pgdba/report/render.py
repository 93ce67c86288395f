"""The weekly report as Markdown or HTML (Jinja2, autoescaped). Renders what it is given, computes nothing."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment
from markupsafe import Markup, escape

from pgdba.render import CODE_SPAN, Column, finding_markdown, markdown_table, md_code, md_prose, md_text
from pgdba.report.weekly import WeeklyReport
from pgdba.units import format_bytes, format_ms


def _context(report: WeeklyReport) -> dict[str, Any]:
    data = report.to_dict()
    for q in data["top_queries"]:
        q["total"] = format_ms(q["total_ms"])
        q["mean"] = format_ms(q["mean_ms"])
        one_line = " ".join(q["query"].split())
        q["short"] = one_line if len(one_line) <= 100 else one_line[:99] + "…"
    score = data["score"]
    score["coverage_text"] = f"{score['checks_run']} checks run, {score['coverage']:.0%} of the check weight"
    for g in data["growth"]:
        g["now"] = format_bytes(g["bytes_now"])
        g["per_day"] = format_bytes(g["bytes_per_day"])
    return data


def to_markdown(report: WeeklyReport) -> str:
    d = _context(report)
    s = d["score"]
    lines = [
        f"# pgdba report — {md_text(d['target'])}",
        "",
        f"Generated {md_text(d['generated_at'])}.",
        "",
        f"## Health score: {s['score']}/10 ({s['coverage_text']})",
        "",
    ]
    if s["cap"] is not None and s["uncapped_score"] > s["cap"]:
        lines.append(f"Capped at {s['cap']:g} (uncapped {s['uncapped_score']}).\n")
    if s["deductions"]:
        lines.append(
            markdown_table(
                s["deductions"],
                [
                    Column("check", "check"),
                    Column("severity", "worst"),
                    Column("findings", "findings", "right"),
                    Column("weight", "weight", "right"),
                    Column("points", "points lost", "right"),
                ],
            )
        )
        lines.append("")
    diff = d["diff"]
    lines += ["## Since the previous report", ""]
    if diff["previous_at"] is None:
        lines.append("_No previous report: this is the first one._")
    else:
        lines.append(f"Previous report {diff['previous_at']} scored {diff['previous_score']}/10.")
        for label in ("new", "worse", "fixed"):
            lines.append(f"\n**{label.capitalize()}** ({len(diff[label])})\n")
            for c in diff[label]:
                was = f" (was {c['previous_severity']})" if c.get("previous_severity") else ""
                lines.append(
                    f"- {c['severity']}{was} {md_code(c['code'])} {md_text(c['title'])} — {md_code(c['object'])}"
                )
    lines += ["", "## Top findings", ""]
    if not d["top_findings"]:
        lines.append("_No warning or critical finding._")
    for finding in report.top_findings:
        lines += finding_markdown(finding)
    lines += ["", f"## Top queries by total time ({d['queries_window']})", ""]
    lines.append(
        markdown_table(
            d["top_queries"],
            [
                Column("short", "query"),
                Column("calls", "calls", "right"),
                Column("total", "total", "right"),
                Column("mean", "mean", "right"),
            ],
        )
        if d["top_queries"]
        else "_No statement statistics._"
    )
    lines += ["", "## Growth", ""]
    if d["growth"]:
        lines.append(
            markdown_table(
                d["growth"],
                [
                    Column("object", "table"),
                    Column("now", "size", "right"),
                    Column("per_day", "per day", "right"),
                ],
            )
        )
    lines += [f"\n_{md_prose(note)}_" for note in d["growth_notes"]]
    if d["skipped"]:
        lines += ["", "## Not checked", ""]
        lines += [f"- check {md_code(s['check'])}: {md_prose(s['reason'])}" for s in d["skipped"]]
    return "\n".join(lines) + "\n"


HTML_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>pgdba report — {{ d.target }}</title>
<style>body{font-family:system-ui,sans-serif;max-width:70rem;margin:2rem auto;padding:0 1rem}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:left}
.critical{color:#b00020;font-weight:bold}.warning{color:#a06000}.score{font-size:2rem}</style></head>
<body>
<h1>pgdba report — {{ d.target }}</h1>
<p>Generated {{ d.generated_at }}.</p>
<p class="score">Health score: <strong>{{ d.score.score }}/10</strong> ({{ d.score.coverage_text }})
{% if d.score.cap is not none and d.score.uncapped_score > d.score.cap %}(capped at {{ d.score.cap }}){% endif %}</p>
{% if d.score.deductions %}<table><tr><th>check</th><th>worst</th><th>findings</th><th>weight</th><th>points lost</th></tr>
{% for x in d.score.deductions %}<tr><td>{{ x.check }}</td><td class="{{ x.severity }}">{{ x.severity }}</td>
<td>{{ x.findings }}</td><td>{{ x.weight }}</td><td>{{ x.points }}</td></tr>{% endfor %}</table>{% endif %}
<h2>Since the previous report</h2>
{% if d.diff.previous_at is none %}<p>No previous report: this is the first one.</p>{% else %}
<p>Previous report {{ d.diff.previous_at }} scored {{ d.diff.previous_score }}/10.</p>
{% for label in ["new", "worse", "fixed"] %}<h3>{{ label|capitalize }} ({{ d.diff[label]|length }})</h3><ul>
{% for c in d.diff[label] %}<li class="{{ c.severity }}">{{ c.severity }} <code>{{ c.code }}</code> {{ c.title }} — <code>{{ c.object }}</code></li>{% endfor %}
</ul>{% endfor %}{% endif %}
<h2>Top findings</h2><ul>
{% for f in d.top_findings %}<li><span class="{{ f.severity }}">{{ f.severity }}</span> <code>{{ f.code }}</code> {{ f.title }} — <code>{{ f.object }}</code>
{% if f.recommendation %}<br>{{ f.recommendation }}{% endif %}{% if f.sql %}<br><code>{{ f.sql }}</code>{% endif %}</li>
{% else %}<li>No warning or critical finding.</li>{% endfor %}</ul>
<h2>Top queries by total time ({{ d.queries_window }})</h2>
<table><tr><th>query</th><th>calls</th><th>total</th><th>mean</th></tr>
{% for q in d.top_queries %}<tr><td><code>{{ q.short }}</code></td><td>{{ q.calls }}</td><td>{{ q.total }}</td><td>{{ q.mean }}</td></tr>{% endfor %}</table>
<h2>Growth</h2>
{% if d.growth %}<table><tr><th>table</th><th>size</th><th>per day</th></tr>
{% for g in d.growth %}<tr><td>{{ g.object }}</td><td>{{ g.now }}</td><td>{{ g.per_day }}</td></tr>{% endfor %}</table>
{% endif %}{% for note in d.growth_notes %}<p>{{ note|code_spans }}</p>{% endfor %}
{% if d.skipped %}<h2>Not checked</h2><ul>{% for s in d.skipped %}<li><code>{{ s.check }}</code>: {{ s.reason|code_spans }}</li>{% endfor %}</ul>{% endif %}
</body></html>
"""


def html_code_spans(text: str) -> Markup:
    """pgdba's sentence, HTML-escaped, with its `backticked` commands and names as <code>."""
    pieces: list[str] = []
    start = 0
    for span in CODE_SPAN.finditer(text):
        pieces += [escape(text[start : span.start()]), Markup("<code>%s</code>") % span.group(1)]
        start = span.end()
    pieces.append(escape(text[start:]))
    return Markup("").join(pieces)


def to_html(report: WeeklyReport) -> str:
    env = Environment(autoescape=True)
    env.filters["code_spans"] = html_code_spans
    return env.from_string(HTML_TEMPLATE).render(d=_context(report))
