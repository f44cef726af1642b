"""Small charts as inline SVG text, for self-contained HTML reports (no plotting library).

Every string that reaches the markup is escaped, so series and axis names may hold any text.

>>> svg = line_chart("NDCG", [Series("ease", [(5, 0.1), (10, 0.12)])], x_label="K")
>>> svg.startswith("<svg") and "ease" in svg
True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

__all__ = ["PALETTE", "Series", "bar_chart", "color", "line_chart", "nice_ceiling"]

PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#e15759",
    "#76b7b2",
    "#59a14f",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
)
"""Colours of series, in order (Tableau 10: distinguishable, also in greyscale print)."""

_FONT = 'font-family="system-ui, sans-serif" font-size="11"'


@dataclass(frozen=True)
class Series:
    """One named line or bar set: ``(x, y)`` points, ``y`` ``None`` where there is no value."""

    name: str
    points: Sequence[tuple[float, float | None]]


def color(i: int) -> str:
    """The colour of the ``i``-th series (the palette repeats)."""
    return PALETTE[i % len(PALETTE)]


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 × a power of ten that is at least ``value`` (> 0).

    >>> nice_ceiling(0.137), nice_ceiling(0.2), nice_ceiling(7)
    (0.2, 0.2, 10.0)
    """
    if not value > 0 or not math.isfinite(value):
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    for step in (1.0, 2.0, 2.5, 5.0, 10.0):
        # The tolerance keeps 0.2 at 0.2 when 0.2 / 0.1 lands a hair above 2.
        if value <= step * power * (1 + 1e-9):
            return round(step * power, 12)
    return 10.0 * power


def _fmt(value: float) -> str:
    return f"{value:.3g}" if value else "0"


@dataclass(frozen=True)
class _Frame:
    """Plot area inside an SVG of ``width`` × ``height`` with margins for axes and legend."""

    width: int
    height: int
    left: int = 48
    right: int = 12
    top: int = 28
    bottom: int = 40

    @property
    def inner_w(self) -> float:
        return float(self.width - self.left - self.right)

    @property
    def inner_h(self) -> float:
        return float(self.height - self.top - self.bottom)

    def y(self, value: float, y_max: float) -> float:
        return self.top + self.inner_h * (1.0 - value / y_max)


def _open(frame: _Frame, title: str, desc: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{frame.width}" '
        f'height="{frame.height}" viewBox="0 0 {frame.width} {frame.height}" role="img" '
        f'aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f"<desc>{escape(desc)}</desc>",
        f'<text x="{frame.width / 2:.1f}" y="16" text-anchor="middle" {_FONT} '
        f'font-weight="bold">{escape(title)}</text>',
    ]


def _scale(top: float) -> tuple[float, float]:
    """Axis maximum and tick step for data up to ``top``: 3 to 5 round ticks above 0."""
    step = nice_ceiling(top / 4) if top > 0 and math.isfinite(top) else 0.25
    return step * max(math.ceil(top / step - 1e-9), 1), step


def _y_axis(frame: _Frame, y_max: float, step: float) -> list[str]:
    out = []
    for i in range(round(y_max / step) + 1):
        value = step * i
        y = frame.y(value, y_max)
        out.append(
            f'<line x1="{frame.left}" x2="{frame.width - frame.right}" y1="{y:.1f}" '
            f'y2="{y:.1f}" stroke="#ddd" stroke-width="1"/>'
        )
        out.append(
            f'<text x="{frame.left - 6}" y="{y + 4:.1f}" text-anchor="end" {_FONT} '
            f'fill="#555">{_fmt(value)}</text>'
        )
    return out


_LEGEND_ROW = 16


def _legend_layout(width: int, left: int, names: Sequence[str]) -> list[tuple[float, int, str]]:
    """``(x, row, label)`` of each legend entry, wrapping to new rows as the width runs out."""
    out = []
    x, row = float(left), 0
    for name in names:
        label = name if len(name) <= 24 else name[:23] + "…"
        need = 14 + 6.5 * len(label)
        if x + need > width and x > left:
            x, row = float(left), row + 1
        out.append((x, row, label))
        x += need + 12
    return out


def _legend(frame: _Frame, names: Sequence[str]) -> list[str]:
    """Legend rows under the plot area: a colour swatch and the (escaped) name each."""
    out = []
    layout = _legend_layout(frame.width, frame.left, names)
    rows = max((r for _, r, _ in layout), default=0) + 1
    first = frame.height - 8 - _LEGEND_ROW * (rows - 1)
    for i, (x, row, label) in enumerate(layout):
        y = first + _LEGEND_ROW * row
        out.append(f'<rect x="{x:.1f}" y="{y - 9:.1f}" width="10" height="10" fill="{color(i)}"/>')
        out.append(f'<text x="{x + 14:.1f}" y="{y:.1f}" {_FONT}>{escape(label)}</text>')
    return out


def _legend_rows(width: int, left: int, names: Sequence[str]) -> int:
    layout = _legend_layout(width, left, names)
    return max((r for _, r, _ in layout), default=0) + 1


def line_chart(
    title: str,
    series: Sequence[Series],
    *,
    x_label: str = "",
    width: int = 360,
    height: int = 240,
) -> str:
    """A line per series over numeric ``x`` (placed to scale), with dots at the points.

    Parameters
    ----------
    title
        Shown above the plot and as the SVG's accessible name.
    series
        The lines; colours follow :data:`PALETTE` in order. Points with ``y`` ``None`` are
        skipped (the line is broken there).
    x_label
        Shown under the x axis.
    width, height
        Size in pixels.

    Returns
    -------
    str
        An ``<svg>`` element.
    """
    extra = _LEGEND_ROW * (_legend_rows(width, 48, [x.name for x in series]) - 1)
    frame = _Frame(width, height + extra, bottom=52 + extra)
    xs = sorted({float(x) for s in series for x, _ in s.points})
    ys = [y for s in series for _, y in s.points if y is not None and math.isfinite(y)]
    y_max, step = _scale(max(ys, default=0.0))
    lo, hi = (xs[0], xs[-1]) if xs else (0.0, 1.0)

    def px(x: float) -> float:
        if hi == lo:
            return frame.left + frame.inner_w / 2
        return frame.left + frame.inner_w * (x - lo) / (hi - lo)

    desc = "; ".join(
        f"{s.name}: "
        + ", ".join(f"{_fmt(x)} → {'n/a' if y is None else f'{y:.4f}'}" for x, y in s.points)
        for s in series
    )
    out = _open(frame, title, desc)
    out += _y_axis(frame, y_max, step)
    base = frame.height - frame.bottom
    for x in xs:
        out.append(
            f'<text x="{px(x):.1f}" y="{base + 14}" text-anchor="middle" {_FONT} '
            f'fill="#555">{_fmt(x)}</text>'
        )
    if x_label:
        out.append(
            f'<text x="{frame.left + frame.inner_w / 2:.1f}" y="{base + 28}" '
            f'text-anchor="middle" {_FONT} fill="#555">{escape(x_label)}</text>'
        )
    for i, s in enumerate(series):
        runs: list[list[tuple[float, float]]] = [[]]
        for x, y in sorted(s.points, key=lambda p: p[0]):
            if y is None or not math.isfinite(y):
                runs.append([])
                continue
            runs[-1].append((px(float(x)), frame.y(y, y_max)))
        for run in runs:
            if len(run) > 1:
                path = " ".join(f"{a:.1f},{b:.1f}" for a, b in run)
                out.append(
                    f'<polyline points="{path}" fill="none" stroke="{color(i)}" stroke-width="2"/>'
                )
            for a, b in run:
                out.append(f'<circle cx="{a:.1f}" cy="{b:.1f}" r="3" fill="{color(i)}"/>')
    out += _legend(frame, [s.name for s in series])
    out.append("</svg>")
    return "\n".join(out)


def bar_chart(
    title: str,
    groups: Sequence[str],
    series: Sequence[Series],
    *,
    width: int = 560,
    height: int = 260,
) -> str:
    """Grouped bars: one group per label in ``groups``, one bar per series in each group.

    Parameters
    ----------
    title
        Shown above the plot and as the SVG's accessible name.
    groups
        Group labels, left to right.
    series
        Each series' points are ``(group position, value)``; a missing or ``None`` value
        leaves a gap marked "n/a".
    width, height
        Size in pixels.

    Returns
    -------
    str
        An ``<svg>`` element.
    """
    extra = _LEGEND_ROW * (_legend_rows(width, 48, [x.name for x in series]) - 1)
    frame = _Frame(width, height + extra, bottom=52 + extra)
    values = [
        {int(x): y for x, y in s.points if y is not None and math.isfinite(y)} for s in series
    ]
    y_max, step = _scale(max((v for d in values for v in d.values()), default=0.0))
    desc = "; ".join(
        f"{s.name}: "
        + ", ".join(f"{g} → {d[j]:.4f}" if j in d else f"{g} → n/a" for j, g in enumerate(groups))
        for s, d in zip(series, values, strict=True)
    )
    out = _open(frame, title, desc)
    out += _y_axis(frame, y_max, step)
    base = frame.height - frame.bottom
    slot = frame.inner_w / max(len(groups), 1)
    bar = slot * 0.8 / max(len(series), 1)
    for j, group in enumerate(groups):
        start = frame.left + slot * j + slot * 0.1
        out.append(
            f'<text x="{frame.left + slot * (j + 0.5):.1f}" y="{base + 14}" '
            f'text-anchor="middle" {_FONT} fill="#555">{escape(group)}</text>'
        )
        for i, d in enumerate(values):
            x = start + bar * i
            if j not in d:
                out.append(
                    f'<text x="{x + bar / 2:.1f}" y="{base - 3}" text-anchor="middle" '
                    f'{_FONT} fill="#999">n/a</text>'
                )
                continue
            top = frame.y(d[j], y_max)
            out.append(
                f'<rect x="{x:.1f}" y="{top:.1f}" width="{max(bar - 2, 1):.1f}" '
                f'height="{base - top:.1f}" fill="{color(i)}">'
                f"<title>{escape(series[i].name)}, {escape(group)}: {d[j]:.4f}</title></rect>"
            )
    out += _legend(frame, [s.name for s in series])
    out.append("</svg>")
    return "\n".join(out)
