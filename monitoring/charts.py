"""Small charts as inline SVG, drawn on the server: no script, no library, no request.

Each function takes the figures and the bucket labels and returns markup safe to put in a
template. Every text that comes from data is escaped; the rest is numbers.
"""

import math
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

# Colours that read on the admin's light and dark themes alike.
BLUE = "#417690"
ORANGE = "#d9822b"
GREEN = "#3a8a4f"
RED = "#c0392b"
GREY = "#8a8a8a"

_LEFT, _RIGHT, _TOP, _BOTTOM = 44, 10, 26, 22


@dataclass(frozen=True)
class Series:
    name: str
    values: list[float]
    color: str


def _nice_ceiling(value: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten at or above `value` (1 for nothing)."""
    if value <= 0:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power


def _number(value: float) -> str:
    if value >= 10_000:
        return f"{value / 1000:.0f}k"
    if value == int(value):
        return f"{int(value)}"
    return f"{value:.1f}"


def _frame(
    *, width: int, height: int, title: str, top: float, labels: list[str], label_every: int,
    series: list[Series], unit: str,
) -> tuple[list[str], float, float]:
    """The chart's box: title, legend, grid, y ticks and x labels. Returns the parts,
    the plot's width and height."""
    plot_w, plot_h = width - _LEFT - _RIGHT, height - _TOP - _BOTTOM
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}"'
        f' role="img" aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    # The legend doubles as the title line.
    x = _LEFT
    for one in series:
        parts.append(
            f'<rect x="{x}" y="6" width="10" height="10" rx="2" fill="{one.color}"/>'
            f'<text x="{x + 14}" y="15" class="legend">{escape(one.name)}</text>'
        )
        x += 14 + 7 * len(one.name) + 14
    for step in range(5):
        value = top * step / 4
        y = _TOP + plot_h - plot_h * step / 4
        parts.append(
            f'<line x1="{_LEFT}" x2="{_LEFT + plot_w}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
        )
        if step % 2 == 0:
            parts.append(
                f'<text x="{_LEFT - 4}" y="{y + 3:.1f}" class="tick" text-anchor="end">'
                f"{_number(value)}{escape(unit)}</text>"
            )
    slot = plot_w / max(len(labels), 1)
    for index, label in enumerate(labels):
        if index % label_every == 0 or index == len(labels) - 1:
            x = _LEFT + slot * (index + 0.5)
            parts.append(
                f'<text x="{x:.1f}" y="{height - 6}" class="tick" text-anchor="middle">'
                f"{escape(label)}</text>"
            )
    return parts, plot_w, plot_h


def _plot(
    *, width: int, height: int, title: str, labels: list[str], label_every: int,
    series: list[Series], unit: str,
) -> tuple[list[str], float, float, float, float]:
    """The frame scaled to the series' largest value; also the scale's top and the width
    of one bucket."""
    top = _nice_ceiling(max((max(one.values, default=0) for one in series), default=0))
    parts, plot_w, plot_h = _frame(
        width=width, height=height, title=title, top=top, labels=labels,
        label_every=label_every, series=series, unit=unit,
    )
    return parts, plot_w, plot_h, top, plot_w / max(len(labels), 1)


def line_chart(
    *, title: str, labels: list[str], series: list[Series], width: int = 320,
    height: int = 150, label_every: int = 6, unit: str = "",
) -> SafeString:
    """Lines through the value of each bucket, with a tooltip on every point."""
    parts, plot_w, plot_h, top, slot = _plot(
        width=width, height=height, title=title, labels=labels, label_every=label_every,
        series=series, unit=unit,
    )
    for one in series:
        points = [
            (_LEFT + slot * (index + 0.5), _TOP + plot_h - plot_h * value / top)
            for index, value in enumerate(one.values)
        ]
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        parts.append(
            f'<polyline points="{path}" fill="none" stroke="{one.color}" stroke-width="2"'
            ' stroke-linejoin="round"/>'
        )
        for (x, y), label, value in zip(points, labels, one.values, strict=True):
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{one.color}">'
                f"<title>{escape(one.name)} {escape(label)}: {_number(value)}{escape(unit)}"
                "</title></circle>"
            )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every data text above is escaped


def bar_chart(
    *, title: str, labels: list[str], series: list[Series], width: int = 640,
    height: int = 170, label_every: int = 3, unit: str = "",
) -> SafeString:
    """Bars side by side per bucket, one per series, with a tooltip on every bar."""
    parts, plot_w, plot_h, top, slot = _plot(
        width=width, height=height, title=title, labels=labels, label_every=label_every,
        series=series, unit=unit,
    )
    bar = slot * 0.8 / max(len(series), 1)
    for position, one in enumerate(series):
        for index, (label, value) in enumerate(zip(labels, one.values, strict=True)):
            if not value:
                continue
            bar_h = max(plot_h * value / top, 1)
            x = _LEFT + slot * index + slot * 0.1 + bar * position
            parts.append(
                f'<rect x="{x:.1f}" y="{_TOP + plot_h - bar_h:.1f}" width="{bar:.1f}"'
                f' height="{bar_h:.1f}" fill="{one.color}">'
                f"<title>{escape(one.name)} {escape(label)}: {_number(value)}{escape(unit)}"
                "</title></rect>"
            )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every data text above is escaped
