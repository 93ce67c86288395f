"""A self-contained SVG chart of a load test (no plotting dependency; the dashboard embeds the file)."""

from __future__ import annotations

from html import escape

from pgdba.pool.load_test import LoadTestReport, SizeResult

WIDTH = 760
HEIGHT = 320
PANEL_W = 330
PANEL_H = 200
TOP = 60
COLOURS = {"p50": "#9ecae1", "p95": "#4292c6", "p99": "#08519c", "throughput": "#41ab5d", "error": "#cb181d"}


def _label(result: SizeResult) -> str:
    return "direct" if result.mode == "direct" else str(result.pool_size)


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    magnitude = 10 ** len(str(int(value))) / 10
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude


def _panel(
    x0: float, title: str, unit: str, results: list[SizeResult], series: list[tuple[str, list[float]]]
) -> list[str]:
    top = max((v for _, values in series for v in values), default=0.0)
    scale_max = _nice_max(top)
    parts = [
        f'<text x="{x0}" y="{TOP - 12}" font-size="13" font-weight="bold">{escape(title)}</text>',
        f'<line x1="{x0}" y1="{TOP + PANEL_H}" x2="{x0 + PANEL_W}" y2="{TOP + PANEL_H}" stroke="#333"/>',
        f'<line x1="{x0}" y1="{TOP}" x2="{x0}" y2="{TOP + PANEL_H}" stroke="#333"/>',
    ]
    for tick in range(5):
        value = scale_max * tick / 4
        y = TOP + PANEL_H - PANEL_H * tick / 4
        parts.append(
            f'<line x1="{x0}" y1="{y:.1f}" x2="{x0 + PANEL_W}" y2="{y:.1f}" stroke="#ddd"/>'
            f'<text x="{x0 - 4}" y="{y + 4:.1f}" font-size="10" text-anchor="end">{value:g}</text>'
        )
    parts.append(
        f'<text x="{x0 - 34}" y="{TOP + PANEL_H / 2}" font-size="10" '
        f'transform="rotate(-90 {x0 - 34} {TOP + PANEL_H / 2})" text-anchor="middle">{escape(unit)}</text>'
    )
    group_w = PANEL_W / max(1, len(results))
    bar_w = group_w * 0.8 / max(1, len(series))
    for i, result in enumerate(results):
        gx = x0 + i * group_w + group_w * 0.1
        for j, (name, values) in enumerate(series):
            value = values[i]
            h = PANEL_H * value / scale_max if scale_max else 0
            parts.append(
                f'<rect x="{gx + j * bar_w:.1f}" y="{TOP + PANEL_H - h:.1f}" width="{bar_w:.1f}" '
                f'height="{h:.1f}" fill="{COLOURS[name]}"><title>{escape(_label(result))}: {name} '
                f"{value:g} {escape(unit)}</title></rect>"
            )
        cx = x0 + i * group_w + group_w / 2
        parts.append(
            f'<text x="{cx:.1f}" y="{TOP + PANEL_H + 14}" font-size="11" text-anchor="middle">'
            f"{escape(_label(result))}</text>"
        )
        if result.failed:
            parts.append(
                f'<text x="{cx:.1f}" y="{TOP + PANEL_H + 28}" font-size="10" fill="{COLOURS["error"]}" '
                f'text-anchor="middle">{result.failed} failed</text>'
            )
    return parts


def load_test_svg(report: LoadTestReport) -> str:
    """Latency percentiles and throughput per pool size, failures marked in red, the recommendation below."""
    results = report.results
    latency = [
        (name, [float(getattr(r, f"{name}_ms") or 0.0) for r in results]) for name in ("p50", "p95", "p99")
    ]
    throughput = [("throughput", [float(r.throughput_per_s) for r in results])]
    cfg = report.config
    subtitle = (
        f"{report.workload}: {cfg.requests} requests, {cfg.clients} clients, pattern {cfg.pattern}; "
        f"server max_connections {report.server.get('max_connections')}, {report.machine.get('cpus')} CPUs"
    )
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
        '<text x="20" y="20" font-size="15" font-weight="bold">Connection pool surge test</text>',
        f'<text x="20" y="36" font-size="11" fill="#555">{escape(subtitle)}</text>',
    ]
    parts += _panel(60, "latency by pool size", "ms", results, latency)
    parts += _panel(420, "throughput by pool size", "requests/s", results, throughput)
    legend_x = 60
    for name in ("p50", "p95", "p99", "throughput"):
        parts.append(
            f'<rect x="{legend_x}" y="{HEIGHT - 42}" width="10" height="10" fill="{COLOURS[name]}"/>'
            f'<text x="{legend_x + 14}" y="{HEIGHT - 33}" font-size="11">{name}</text>'
        )
        legend_x += 90
    parts.append(f'<text x="20" y="{HEIGHT - 12}" font-size="11">{escape(report.recommendation)}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
