"""Server-side SVG charts: the dashboard reads without JavaScript. A chart draws what it is given."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

WIDTH, ROW_HEIGHT, LABEL_WIDTH = 640, 22, 220


def bar_chart(items: Sequence[tuple[str, float, str]], *, title: str) -> str:
    """Horizontal bars: (label, value, value text) — e.g. table sizes, largest first."""
    if not items:
        return ""
    top = max(value for _, value, _ in items) or 1.0
    height = ROW_HEIGHT * len(items) + 30
    bars = []
    for row, (label, value, text) in enumerate(items):
        y = 24 + row * ROW_HEIGHT
        width = max(1.0, (WIDTH - LABEL_WIDTH - 90) * value / top)
        bars.append(
            f'<text x="{LABEL_WIDTH - 6}" y="{y + 14}" text-anchor="end">{escape(label[:32])}</text>'
            f'<rect x="{LABEL_WIDTH}" y="{y + 3}" width="{width:.1f}" height="{ROW_HEIGHT - 6}" class="bar"/>'
            f'<text x="{LABEL_WIDTH + width + 6:.1f}" y="{y + 14}">{escape(text)}</text>'
        )
    return (
        f'<svg class="chart" role="img" aria-label="{escape(title)}" viewBox="0 0 {WIDTH} {height}" '
        f'width="{WIDTH}" height="{height}" xmlns="http://www.w3.org/2000/svg">'
        f'<text x="0" y="14" class="chart-title">{escape(title)}</text>{"".join(bars)}</svg>'
    )


def line_chart(
    points: Sequence[tuple[float, float]], *, title: str, y_label: str = "", height: int = 180
) -> str:
    """A line over (x, y) points, e.g. (epoch seconds, bytes) of a table's size over time."""
    if len(points) < 2:
        return ""
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    x0, x1 = min(xs), max(xs) or 1.0
    y0, y1 = min(0.0, min(ys)), max(ys) or 1.0
    span_x = (x1 - x0) or 1.0
    span_y = (y1 - y0) or 1.0
    left, bottom, plot_w, plot_h = 50, height - 20, WIDTH - 60, height - 50
    path = " ".join(
        f"{'M' if i == 0 else 'L'}{left + plot_w * (x - x0) / span_x:.1f},{bottom - plot_h * (y - y0) / span_y:.1f}"
        for i, (x, y) in enumerate(points)
    )
    return (
        f'<svg class="chart" role="img" aria-label="{escape(title)}" viewBox="0 0 {WIDTH} {height}" '
        f'width="{WIDTH}" height="{height}" xmlns="http://www.w3.org/2000/svg">'
        f'<text x="0" y="14" class="chart-title">{escape(title)}</text>'
        f'<line x1="{left}" y1="{bottom}" x2="{left + plot_w}" y2="{bottom}" class="axis"/>'
        f'<line x1="{left}" y1="{bottom}" x2="{left}" y2="{bottom - plot_h}" class="axis"/>'
        f'<text x="2" y="{bottom - plot_h + 4}">{escape(y_label)}</text>'
        f'<path d="{path}" class="line"/></svg>'
    )
