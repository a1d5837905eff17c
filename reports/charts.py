"""Charts drawn on the server as SVG, by a small renderer of our own.

Why our own: a page needs two shapes (grouped horizontal bars comparing periods, a line of calls per day),
with no script (the CSP forbids them), CJK labels in the page's own fonts, a <title>/<desc> text
alternative and colours that survive black-and-white printing (patterns by stroke, not only hue). The
charting libraries on the package index either render through a browser script, or draw through
matplotlib (large, its own fonts, raster-minded); leather draws SVG but has no accessible title or
description hooks and would still need a wrapper for those. Some eighty lines of geometry were smaller
than either. Every chart sits beside a <table> of the same numbers (templates/reports/_chart.html).
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from markupsafe import Markup

__all__ = ["Series", "bar_chart", "line_chart"]

FONT = "'Noto Sans CJK SC','Source Han Sans SC','PingFang SC','Microsoft YaHei',sans-serif"
# Distinct in hue and in lightness, so a grey printout still tells the series apart.
COLOURS = ("#1f5fa8", "#9bbbe0", "#d08a2c")
DASHES = ("", "4 2", "1 2")


@dataclass(frozen=True)
class Series:
    name: str
    values: tuple[float, ...]


def _text(x: float, y: float, content: str, *, anchor: str = "start", size: int = 12) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" '
        f'font-family="{FONT}">{escape(content)}</text>'
    )


def _frame(ident: str, size: tuple[int, int], title: str, description: str, body: list[str]) -> Markup:
    width, height = size
    key = escape(ident)
    return Markup(  # noqa: S704 - every text inside went through html.escape
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" '
        f'role="img" aria-labelledby="{key}-t {key}-d" class="chart" data-chart="{key}">'
        f'<title id="{key}-t">{escape(title)}</title>'
        f'<desc id="{key}-d">{escape(description)}</desc>{"".join(body)}</svg>'
    )


def bar_chart(ident: str, title: str, description: str, labels: list[str], series: list[Series]) -> Markup:
    """Horizontal bars, one group per label, one bar per series (e.g. this period / previous / a year ago)."""
    bar = 12
    group = bar * len(series) + 8
    left, right, top = 150, 50, 26
    width = 640
    height = top + group * max(len(labels), 1) + 24
    peak = max((v for s in series for v in s.values), default=0) or 1
    scale = (width - left - right) / peak
    body: list[str] = []
    for i, (name, colour) in enumerate(zip([s.name for s in series], COLOURS, strict=False)):
        x = left + i * 150
        body.append(
            f'<rect x="{x}" y="6" width="10" height="10" fill="{colour}" stroke="#000" stroke-width="0.5"/>'
        )
        body.append(_text(x + 14, 15, name, size=11))
    for row, label in enumerate(labels):
        y0 = top + row * group
        body.append(_text(left - 6, y0 + group / 2, label[:14], anchor="end"))
        for i, s in enumerate(series):
            value = s.values[row] if row < len(s.values) else 0
            y = y0 + i * bar
            length = value * scale
            body.append(
                f'<rect x="{left}" y="{y}" width="{length:.1f}" height="{bar - 2}" fill="{COLOURS[i % 3]}" '
                f'stroke="#000" stroke-width="0.5"/>'
            )
            body.append(_text(left + length + 4, y + bar - 3, f"{value:g}", size=10))
    body.append(f'<line x1="{left}" y1="{top - 2}" x2="{left}" y2="{height - 20}" stroke="#000"/>')
    return _frame(ident, (width, height), title, description, body)


def line_chart(ident: str, title: str, description: str, labels: list[str], series: list[Series]) -> Markup:
    """Lines over an ordered axis (days); the first and last labels are written under the axis."""
    width, height = 640, 220
    left, right, top, bottom = 40, 16, 26, 30
    peak = max((v for s in series for v in s.values), default=0) or 1
    steps = max(len(labels) - 1, 1)
    x_step = (width - left - right) / steps
    y_scale = (height - top - bottom) / peak
    body = [
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - right}" y2="{height - bottom}" '
        'stroke="#000"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{height - bottom}" stroke="#000"/>',
        _text(left - 4, top + 4, f"{peak:g}", anchor="end", size=10),
        _text(left - 4, height - bottom, "0", anchor="end", size=10),
    ]
    if labels:
        body.append(_text(left, height - 10, labels[0], size=10))
        body.append(_text(width - right, height - 10, labels[-1], anchor="end", size=10))
    for i, s in enumerate(series):
        points = " ".join(
            f"{left + n * x_step:.1f},{height - bottom - v * y_scale:.1f}" for n, v in enumerate(s.values)
        )
        dash = f' stroke-dasharray="{DASHES[i % 3]}"' if DASHES[i % 3] else ""
        body.append(
            f'<polyline points="{points}" fill="none" stroke="{COLOURS[i % 3]}" stroke-width="2"{dash}/>'
        )
        x = left + i * 150
        body.append(
            f'<line x1="{x}" y1="11" x2="{x + 14}" y2="11" stroke="{COLOURS[i % 3]}" stroke-width="3"{dash}/>'
        )
        body.append(_text(x + 18, 15, s.name, size=11))
    return _frame(ident, (width, height), title, description, body)
