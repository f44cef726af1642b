"""The report as pictures: a self-contained SVG of the lifts with their intervals, and an HTML
page with the decision, the tables and the charts (no script, no network; every value taken
from the report is escaped).
"""

from __future__ import annotations

import math
from html import escape

from tastemaker.evaluation.svg import Series, bar_chart, color
from tastemaker.experiments.report import ComparisonOut, ExperimentReport, GroupOut

__all__ = ["lift_chart", "render_html"]

_FONT = 'font-family="system-ui, sans-serif" font-size="11"'


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:+.1%}"


def lift_chart(report: ExperimentReport, width: int = 560) -> str:
    """Each variant's relative lift on each metric as a dot with its confidence interval,
    against a line at 0; significant ones drawn solid. An ``<svg>`` element.
    """
    rows = [c for c in report.comparisons if c.relative is not None]
    row_h, top, left, right = 26, 36, 170, 24
    height = top + row_h * max(len(rows), 1) + 40
    ends = [
        abs(float(v)) for c in rows for v in (c.relative, *(c.relative_ci or ())) if v is not None
    ]
    span = max([*ends, 0.05]) * 1.1
    inner = width - left - right

    def px(value: float) -> float:
        return left + inner * (value + span) / (2 * span)

    title = f"Relative lift vs {report.control} ({report.experiment})"
    desc = "; ".join(
        f"{c.arm} {c.metric}: {_pct(c.relative)} "
        f"[{_pct(c.relative_ci[0] if c.relative_ci else None)}, "
        f"{_pct(c.relative_ci[1] if c.relative_ci else None)}] p={c.p_value:.3g}"
        for c in rows
    )
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title><desc>{escape(desc or 'no comparisons yet')}</desc>",
        f'<text x="{width / 2:.1f}" y="16" text-anchor="middle" {_FONT} font-weight="bold">'
        f"{escape(title)}</text>",
    ]
    base = top + row_h * max(len(rows), 1)
    for tick in (-span / 1.1, -span / 2.2, 0.0, span / 2.2, span / 1.1):
        x = px(tick)
        stroke = "#999" if tick == 0 else "#e5e5e5"
        out.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top - 6}" y2="{base}" stroke="{stroke}"/>'
        )
        out.append(
            f'<text x="{x:.1f}" y="{base + 14}" text-anchor="middle" {_FONT} fill="#555">'
            f"{_pct(tick)}</text>"
        )
    if not rows:
        out.append(
            f'<text x="{px(0):.1f}" y="{top + 12}" text-anchor="middle" {_FONT} fill="#999">'
            "no data yet</text>"
        )
    arms = list(dict.fromkeys(c.arm for c in rows))
    for i, c in enumerate(rows):
        y = top + row_h * i + row_h / 2
        hue = color(arms.index(c.arm) + 1)
        out.append(
            f'<text x="{left - 8}" y="{y + 4:.1f}" text-anchor="end" {_FONT}>'
            f"{escape(c.arm)} · {escape(c.metric)}</text>"
        )
        if c.relative_ci is not None and None not in c.relative_ci:
            lo, hi = (float(v or 0.0) for v in c.relative_ci)
            dash = "" if c.significant else ' stroke-dasharray="4 3"'
            out.append(
                f'<line x1="{px(lo):.1f}" x2="{px(hi):.1f}" y1="{y:.1f}" y2="{y:.1f}" '
                f'stroke="{hue}" stroke-width="2"{dash}/>'
            )
        fill = hue if c.significant else "#fff"
        rel = float(c.relative or 0.0)
        out.append(
            f'<circle cx="{px(rel):.1f}" cy="{y:.1f}" r="4" fill="{fill}" stroke="{hue}" '
            f'stroke-width="2"><title>{escape(c.arm)} {escape(c.metric)}: {_pct(rel)}, '
            f"p = {c.p_value:.3g}</title></circle>"
        )
    out.append(
        f'<text x="{left + inner / 2:.1f}" y="{base + 30}" text-anchor="middle" {_FONT} '
        f'fill="#555">relative lift, {1 - report.comparison_alpha:.0%}'
        " intervals (filled: significant)</text>"
    )
    out.append("</svg>")
    return "\n".join(out)


def _arms_chart(report: ExperimentReport) -> str:
    groups = [*report.arms, *([report.holdout] if report.holdout else [])]
    metric = report.primary_metric
    points = [
        (float(i), g.metrics[metric].value) for i, g in enumerate(groups) if metric in g.metrics
    ]
    return bar_chart(
        f"{report.metrics.get(metric, metric)} per group",
        [g.name for g in groups],
        [Series(metric, points)],
        width=max(320, 120 * len(groups)),
    )


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 64rem; color: #222;
       padding: 0 1rem; line-height: 1.4; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; font-size: 0.9rem; }
th, td { padding: 0.25rem 0.6rem; border-bottom: 1px solid #e5e5e5; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.decision { font-size: 1.1rem; padding: 0.6rem 0.9rem; background: #f4f7fb; }
.srm { background: #fdecea; } .meta { color: #666; }
"""


def _value(value: float | None, rate: bool) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    return f"{value:.2%}" if rate else f"{value:.4g}"


def _groups_table(report: ExperimentReport, groups: list[GroupOut]) -> str:
    names = [n for n in report.metrics if all(n in g.metrics for g in groups)]
    head = "".join(f"<th>{escape(n)}</th>" for n in names)
    rows = []
    for g in groups:
        cells = "".join(
            f"<td>{_value(g.metrics[n].value, g.metrics[n].successes is not None)}</td>"
            for n in names
        )
        rows.append(
            f"<tr><td>{escape(g.name)}</td><td>{g.users}</td><td>{g.exposures}</td>"
            f"<td>{g.impressions}</td>{cells}</tr>"
        )
    return (
        "<table><thead><tr><th>group</th><th>users</th><th>exposures</th><th>impressions</th>"
        f"{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _comparisons_table(rows: list[ComparisonOut]) -> str:
    body = "".join(
        f"<tr><td>{escape(c.arm)}</td><td>{escape(c.metric)}</td><td>{_pct(c.relative)}</td>"
        f"<td>{_pct(c.relative_ci[0] if c.relative_ci else None)} to "
        f"{_pct(c.relative_ci[1] if c.relative_ci else None)}</td>"
        f"<td>{c.p_value:.3g}</td><td>{escape(c.test)}</td>"
        f"<td>{'yes' if c.significant else 'no'}</td></tr>"
        for c in rows
    )
    return (
        "<table><thead><tr><th>arm</th><th>metric</th><th>lift</th><th>interval</th>"
        f"<th>p</th><th>test</th><th>significant</th></tr></thead><tbody>{body}</tbody></table>"
    )


def render_html(report: ExperimentReport) -> str:
    """The whole report as one HTML page."""
    title = f"Experiment {report.experiment}"
    srm = report.srm
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        f'<p class="meta">placement <b>{escape(report.placement)}</b>, {escape(report.status)}'
        f", primary metric <b>{escape(report.primary_metric)}</b>, α = {report.alpha:g}, "
        f"planned {report.planned_users} users per arm ({report.progress:.0%} reached)</p>",
        f'<p class="decision{" srm" if report.verdict == "srm" else ""}">'
        f"{escape(report.decision)}</p>",
        _groups_table(report, [*report.arms, *([report.holdout] if report.holdout else [])]),
        _comparisons_table(report.comparisons),
        f'<p class="meta">sample ratio check: chi-square {srm.chi_square:.3g}, '
        f"p = {srm.p_value:.3g}{' — mismatch' if srm.flagged else ''}</p>",
        lift_chart(report),
        _arms_chart(report),
    ]
    for segment in report.segments:
        parts.append(f"<h2>Segment {escape(segment.segment)}</h2>")
        parts.append(_groups_table(report, segment.arms))
        parts.append(_comparisons_table(segment.comparisons))
    parts.append("</body></html>")
    return "\n".join(parts)
