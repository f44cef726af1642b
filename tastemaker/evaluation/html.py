"""A self-contained HTML page of an evaluation run: tables and inline SVG charts.

The page is rendered from the run's plain JSON form (what ``evaluation.json`` holds), so a saved
run can be rendered again later. It needs no network, no script and no stylesheet beyond its own
``<style>``; every value taken from the run is escaped.

>>> run = {"protocol": "chronological", "ks": [5, 10], "data": {"users": 3},
...        "models": [{"name": "<pop>", "model": "popularity",
...                    "metrics": {"ndcg@5": 0.1, "ndcg@10": 0.2}}]}
>>> page = render_html(run)
>>> "&lt;pop&gt;" in page and "<pop>" not in page and "<svg" in page
True
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from tastemaker.evaluation.report import ACTIVITY_LABELS
from tastemaker.evaluation.svg import Series, bar_chart, color, line_chart

__all__ = ["HEADLINE_METRICS", "headline_k", "render_html"]

HEADLINE_METRICS = (
    ("ndcg", "NDCG"),
    ("recall", "Recall"),
    ("hit_rate", "HR"),
    ("map", "MAP"),
    ("coverage", "Coverage"),
    ("novelty", "Novelty"),
    ("diversity", "Diversity"),
)
"""Metrics of the summary table: key in the run's metrics, and column heading."""

CHART_METRICS = (("ndcg", "NDCG"), ("recall", "Recall"), ("hit_rate", "Hit rate"), ("map", "MAP"))

_HIGHER_IS_BETTER = {"ndcg", "recall", "hit_rate", "map", "mrr", "precision", "coverage"}

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 72rem; color: #222;
       padding: 0 1rem; line-height: 1.4; }
h1 { font-size: 1.5rem; margin-bottom: 0.2rem; }
h2 { font-size: 1.2rem; margin-top: 2rem; border-bottom: 1px solid #ddd; }
h3 { font-size: 1rem; }
.meta { color: #666; margin-top: 0; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; font-size: 0.9rem; }
th, td { padding: 0.25rem 0.6rem; border-bottom: 1px solid #e5e5e5; text-align: right; }
th:first-child, td:first-child { text-align: left; }
thead th { border-bottom: 2px solid #999; }
td.best { font-weight: bold; }
tr.chosen td { background: #eef5ff; font-weight: bold; }
.swatch { display: inline-block; width: 0.7rem; height: 0.7rem; margin-right: 0.35rem; }
.charts { display: flex; flex-wrap: wrap; gap: 1rem; }
.error { color: #a00; }
code { font-size: 0.85rem; }
details { margin: 0.5rem 0; }
"""


def headline_k(ks: Sequence[int]) -> int:
    """The cut-off the summary shows: 10 when evaluated, else the largest.

    >>> headline_k([5, 10, 20]), headline_k([3, 5])
    (10, 5)
    """
    return 10 if 10 in ks else max(ks, default=10)


def render_html(run: Mapping[str, Any], title: str = "Tastemaker offline evaluation") -> str:
    """The whole report page for the JSON form of an evaluation run.

    Parameters
    ----------
    run
        ``EvaluationRun.as_dict()`` (or ``evaluation.json`` read back): ``protocol``, ``ks``,
        ``data`` and ``models``, each model with ``name``, ``model``, ``metrics``
        (``{"metric@k": value}``) and optionally ``params``, ``by_activity``, ``by_segment``,
        ``fit_seconds``, ``ms_per_1000_users``, ``tuning`` and ``error``; the run optionally
        ``segment_source``. Missing parts are left out.
    title
        The page title.

    Returns
    -------
    str
        A complete HTML document.
    """
    ks = [int(k) for k in run.get("ks") or []]
    k = headline_k(ks)
    models = [m for m in run.get("models") or [] if not m.get("error")]
    failed = [m for m in run.get("models") or [] if m.get("error")]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        f'<p class="meta">{_meta(run)}</p>',
        _data_section(run.get("data") or {}),
        f"<h2>Models at K = {k}</h2>",
        _summary_table(models, k),
        _failed(failed),
        _charts(models, ks),
        _activity(models, k),
        _segments(models, k, run.get("segment_source")),
        _tuning(models),
        _details(models, ks),
        "</body></html>",
    ]
    return "\n".join(p for p in parts if p)


def _num(value: Any) -> float | None:
    """A finite float, or ``None`` for missing and non-finite values."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _cell(value: Any, digits: int = 4) -> str:
    number = _num(value)
    return "–" if number is None else f"{number:.{digits}f}"


def _meta(run: Mapping[str, Any]) -> str:
    bits = [f"protocol <b>{escape(str(run.get('protocol', '?')))}</b>"]
    if run.get("protocol") == "random" and run.get("seed") is not None:
        bits.append(f"seed {escape(str(run['seed']))}")
    fraction = _num(run.get("test_fraction"))
    if fraction is not None:
        which = "the latest" if run.get("protocol") == "chronological" else "a random"
        bits.append(
            f"{which} {fraction:.0%} of the interactions of each user with ≥ "
            f"{escape(str(run.get('min_interactions', '?')))} held out"
        )
    if run.get("tuned"):
        bits.append(
            f"tuned on a validation split of the training part by "
            f"{escape(str(run.get('tuning_metric', '?')))}"
        )
    else:
        bits.append("configured parameters, no tuning")
    if run.get("created_at"):
        bits.append(escape(str(run["created_at"])))
    if run.get("tastemaker_version"):
        bits.append(f"Tastemaker {escape(str(run['tastemaker_version']))}")
    return " · ".join(bits)


_DATA_LABELS = (
    ("users", "users"),
    ("items", "items in the catalog"),
    ("interactions", "classified events"),
    ("positives", "positive"),
    ("negatives", "negative"),
    ("train_rows", "training rows"),
    ("test_rows", "test rows"),
    ("test_users", "test users"),
    ("validation_fit_rows", "validation: fitting rows"),
    ("validation_rows", "validation: held-out rows"),
    ("validation_users", "validation: users"),
)


def _data_section(data: Mapping[str, Any]) -> str:
    rows = [
        f"<tr><td>{escape(label)}</td><td>{int(data[key]):,}</td></tr>"
        for key, label in _DATA_LABELS
        if _num(data.get(key)) is not None
    ]
    if not rows:
        return ""
    return "<h2>Data</h2><table><tbody>" + "".join(rows) + "</tbody></table>"


def _swatch(i: int) -> str:
    return f'<span class="swatch" style="background:{color(i)}"></span>'


def _summary_table(models: Sequence[Mapping[str, Any]], k: int) -> str:
    if not models:
        return "<p>No model was evaluated.</p>"
    keys = [f"{name}@{k}" for name, _ in HEADLINE_METRICS]
    best = {}
    for (name, _), key in zip(HEADLINE_METRICS, keys, strict=True):
        values = [_num((m.get("metrics") or {}).get(key)) for m in models]
        present = [v for v in values if v is not None]
        if present and name in _HIGHER_IS_BETTER:
            best[key] = max(present)
    head = "".join(f"<th>{escape(label)}@{k}</th>" for _, label in HEADLINE_METRICS)
    rows = []
    for i, m in enumerate(models):
        metrics = m.get("metrics") or {}
        cells = []
        for key in keys:
            value = _num(metrics.get(key))
            mark = ' class="best"' if value is not None and best.get(key) == value else ""
            cells.append(f"<td{mark}>{_cell(value)}</td>")
        rows.append(
            f"<tr><td>{_swatch(i)}{_label(m)}</td>{''.join(cells)}"
            f"<td>{_cell(m.get('fit_seconds'), 2)}</td>"
            f"<td>{_cell(m.get('ms_per_1000_users'), 1)}</td>"
            f"<td>{_users(m)}</td></tr>"
        )
    return (
        f"<table><thead><tr><th>model</th>{head}<th>fit s</th><th>ms / 1,000 users</th>"
        f"<th>test users</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
        f'<p class="meta">Best per column in bold. Novelty: mean -log2 of the share of training '
        f"users who know a recommended item; diversity: mean tag dissimilarity within a list."
        f"</p>"
    )


def _label(m: Mapping[str, Any]) -> str:
    """The configured name, and the model kind when it differs (``trending`` popularity)."""
    name, kind = str(m.get("name", "?")), str(m.get("model", ""))
    suffix = f" <code>{escape(kind)}</code>" if kind and kind != name else ""
    return escape(name) + suffix


def _users(m: Mapping[str, Any]) -> str:
    n = _num(m.get("users_evaluated"))
    return "–" if n is None else f"{int(n):,}"


def _failed(failed: Sequence[Mapping[str, Any]]) -> str:
    if not failed:
        return ""
    items = "".join(
        f"<li><b>{escape(str(m.get('name', '?')))}</b>: {escape(str(m.get('error')))}</li>"
        for m in failed
    )
    return f'<h3 class="error">Not evaluated</h3><ul class="error">{items}</ul>'


def _charts(models: Sequence[Mapping[str, Any]], ks: Sequence[int]) -> str:
    if not models or not ks:
        return ""
    charts = []
    for name, label in CHART_METRICS:
        series = [
            Series(
                str(m.get("name", "?")),
                [(k, _num((m.get("metrics") or {}).get(f"{name}@{k}"))) for k in ks],
            )
            for m in models
        ]
        if any(y is not None for s in series for _, y in s.points):
            charts.append(line_chart(f"{label} at K", series, x_label="K (list length)"))
    if not charts:
        return ""
    return '<h2>Accuracy by list length</h2><div class="charts">' + "".join(charts) + "</div>"


def _activity(models: Sequence[Mapping[str, Any]], k: int) -> str:
    return _breakdown(
        models,
        k,
        "by_activity",
        "By user activity",
        "Users with &lt; 5 (cold), 5–19 (warm) and ≥ 20 (heavy) training interactions.",
        ACTIVITY_LABELS,
    )


def _segments(models: Sequence[Mapping[str, Any]], k: int, source: Any) -> str:
    origin = f" (labels: {escape(str(source))})" if source else ""
    return _breakdown(
        models,
        k,
        "by_segment",
        "By segment",
        f"Test users by their segment{origin}; users without one are “unsegmented”. A "
        "segment's figure rests on its own users only, so small segments move a lot by chance.",
        (),
    )


def _breakdown(
    models: Sequence[Mapping[str, Any]],
    k: int,
    field: str,
    heading: str,
    note: str,
    order: Sequence[str],
) -> str:
    """A chart and a table of NDCG@k per group of test users (``field`` of each model).

    Groups come in ``order`` first, then the others in the order the first model lists them.
    ``note`` is HTML.
    """
    key = f"ndcg@{k}"
    with_groups = [m for m in models if m.get(field)]
    if not with_groups:
        return ""
    present = list(dict.fromkeys(str(g) for m in with_groups for g in m[field]))
    labels = [g for g in order if g in present]
    labels += [g for g in present if g not in labels]
    series = [
        Series(
            str(m.get("name", "?")),
            [(j, _num((m[field].get(g) or {}).get(key))) for j, g in enumerate(labels)],
        )
        for m in with_groups
    ]
    group_names = []
    for g in labels:
        users = _num((with_groups[0][field].get(g) or {}).get("users"))
        group_names.append(g if users is None else f"{g} ({int(users):,} users)")
    chart = bar_chart(f"NDCG@{k} {heading[0].lower()}{heading[1:]}", group_names, series)
    head = "".join(f"<th>{escape(g)}</th>" for g in group_names)
    rows = "".join(
        f"<tr><td>{_swatch(i)}{escape(s.name)}</td>"
        + "".join(f"<td>{_cell(y)}</td>" for _, y in s.points)
        + "</tr>"
        for i, s in enumerate(series)
    )
    return (
        f'<h2>{escape(heading)}</h2><p class="meta">{note}</p>{chart}'
        f"<table><thead><tr><th>NDCG@{k}</th>{head}</tr></thead><tbody>{rows}</tbody></table>"
    )


def _params(params: Mapping[str, Any] | None) -> str:
    if not params:
        return "defaults"
    return ", ".join(f"{escape(str(k))}={escape(json.dumps(v))}" for k, v in params.items())


def _tuning(models: Sequence[Mapping[str, Any]]) -> str:
    tuned = [m for m in models if m.get("tuning")]
    if not tuned:
        return ""
    out = ["<h2>Tuning</h2>"]
    for m in tuned:
        t = m["tuning"]
        searched = [str(s) for s in t.get("searched") or []]
        metric = escape(str(t.get("metric", "?")))
        head = "".join(f"<th>{escape(s)}</th>" for s in searched)
        rows = []
        for j, c in enumerate(t.get("candidates") or []):
            chosen = ' class="chosen"' if j == t.get("best_index") else ""
            params = c.get("params") or {}
            cells = "".join(f"<td>{escape(json.dumps(params.get(s)))}</td>" for s in searched)
            rows.append(
                f"<tr{chosen}><td>{j + 1}</td>{cells}<td>{_cell(c.get('value'))}</td>"
                f"<td>{_cell(c.get('fit_seconds'), 2)}</td></tr>"
            )
        out.append(
            f"<h3>{escape(str(m.get('name', '?')))}</h3>"
            f'<p class="meta">{len(rows)} combinations on the validation split '
            f"({_cell(t.get('validation_users'), 0)} users), chosen by {metric}: "
            f"{_params(t.get('best_params'))}</p>"
            f"<table><thead><tr><th>#</th>{head}<th>validation {metric}</th><th>fit s</th></tr>"
            f"</thead><tbody>{''.join(rows)}</tbody></table>"
        )
    return "".join(out)


def _details(models: Sequence[Mapping[str, Any]], ks: Sequence[int]) -> str:
    if not models or not ks:
        return ""
    out = ["<h2>Every metric</h2>"]
    for m in models:
        metrics = m.get("metrics") or {}
        names = list(dict.fromkeys(key.partition("@")[0] for key in metrics))
        head = "".join(f"<th>{escape(n)}</th>" for n in names)
        rows = "".join(
            f"<tr><td>{k}</td>"
            + "".join(f"<td>{_cell(metrics.get(f'{n}@{k}'))}</td>" for n in names)
            + "</tr>"
            for k in ks
        )
        out.append(
            f"<details><summary>{escape(str(m.get('name', '?')))} — "
            f"{_params(m.get('params'))}</summary>"
            f"<table><thead><tr><th>K</th>{head}</tr></thead><tbody>{rows}</tbody></table>"
            f"</details>"
        )
    return "".join(out)
