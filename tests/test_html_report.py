"""The self-contained HTML report and its inline SVG charts."""

from __future__ import annotations

import doctest
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from types import ModuleType
from typing import Any

import pytest

from tastemaker.evaluation import html, svg
from tastemaker.evaluation.html import render_html
from tastemaker.evaluation.svg import Series, bar_chart, line_chart, nice_ceiling

EVIL = "<b onmouseover=\"alert('x')\">&amp; evil</b>"
NAN = float("nan")


def model(name: str, ndcg10: float | None, **extra: Any) -> dict[str, Any]:
    metrics = {
        f"{m}@{k}": (ndcg10 or 0.0) * k / 10
        for m in ("ndcg", "recall", "hit_rate", "map", "coverage")
        for k in (5, 10, 20)
    }
    metrics["novelty@10"] = 4.5
    if ndcg10 is None:
        metrics["ndcg@10"] = NAN
    return {
        "name": name,
        "model": "ease",
        "params": {"l2": 100.0},
        "metrics": metrics,
        "users_evaluated": 42,
        "by_activity": {
            "cold": {"ndcg@10": 0.05, "users": 3},
            "warm": {"ndcg@10": ndcg10, "users": 30},
            "heavy": {"ndcg@10": NAN, "users": 9},
        },
        "fit_seconds": 1.5,
        "ms_per_1000_users": 12.0,
        "tuning": None,
        "error": None,
        **extra,
    }


def run(*models: dict[str, Any]) -> dict[str, Any]:
    return {
        "protocol": "chronological",
        "ks": [5, 10, 20],
        "tuned": True,
        "tuning_metric": "ndcg@10",
        "test_fraction": 0.2,
        "min_interactions": 5,
        "data": {"users": 100, "items": 50, "test_users": 42, "validation_rows": None},
        "models": list(models),
    }


TUNING = {
    "metric": "ndcg@10",
    "searched": ["l2", EVIL],
    "candidates": [
        {"params": {"l2": 1.0, EVIL: EVIL}, "value": 0.1, "fit_seconds": 0.5},
        {"params": {"l2": 2.0, EVIL: EVIL}, "value": 0.2, "fit_seconds": 0.5},
    ],
    "best_index": 1,
    "best_params": {"l2": 2.0, EVIL: EVIL},
    "validation_users": 40,
}


def svgs(page: str) -> list[str]:
    return re.findall(r"<svg.*?</svg>", page, flags=re.DOTALL)


class Tags(HTMLParser):
    """Every start tag and attribute name of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attributes: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes.update(a for a, _ in attrs)


def test_model_names_and_parameters_are_escaped_everywhere() -> None:
    page = render_html(
        run(
            model(EVIL, 0.2, tuning=TUNING),
            model("plain", 0.1),
            {"name": EVIL, "model": "ease", "error": EVIL},
        )
    )
    assert EVIL not in page
    assert "&lt;b onmouseover=&quot;alert(&#x27;x&#x27;)&quot;&gt;&amp;amp; evil&lt;/b&gt;" in page
    parser = Tags()
    parser.feed(page)
    assert not any(a.startswith("on") for a in parser.attributes)  # no name became markup
    for chart in svgs(page):
        ET.fromstring(chart)  # well-formed XML, escaped text included


def test_the_page_is_self_contained() -> None:
    page = render_html(run(model("ease", 0.2, tuning=TUNING), model("als", 0.15)))
    parser = Tags()
    parser.feed(page)
    assert "script" not in parser.tags
    assert "link" not in parser.tags
    assert "img" not in parser.tags
    assert not {"src", "href"} & parser.attributes
    urls = set(re.findall(r"https?://[^\"' ]+", page))
    assert urls == {"http://www.w3.org/2000/svg"}  # a namespace name, never fetched
    assert len(svgs(page)) == 5  # NDCG, recall, hit rate, MAP vs K, and activity bars


def test_tables_show_metrics_best_values_and_the_chosen_grid_point() -> None:
    page = render_html(run(model("ease", 0.2, tuning=TUNING), model("als", 0.15)))
    assert "<h2>Models at K = 10</h2>" in page
    assert '<td class="best">0.2000</td>' in page
    assert '<tr class="chosen">' in page
    assert "validation ndcg@10" in page
    assert "cold (3 users)" in page
    assert "validation: held-out rows" not in page  # None values are left out


def test_missing_and_nan_values_render_as_dashes() -> None:
    page = render_html(run(model("nan", None), {"name": "bare", "model": "popularity"}))
    assert "nan" in page
    assert "NaN" not in page
    assert ">–<" in page
    for chart in svgs(page):
        ET.fromstring(chart)


def test_a_run_without_models_still_renders() -> None:
    page = render_html({"protocol": "random", "ks": [], "models": []})
    assert "No model was evaluated" in page
    assert "<svg" not in page


def test_line_chart_places_k_to_scale_and_breaks_at_gaps() -> None:
    chart = line_chart("t", [Series("a", [(5, 0.1), (10, None), (20, 0.3)])], width=300)
    root = ET.fromstring(chart)
    ns = "{http://www.w3.org/2000/svg}"
    assert root.findall(f"{ns}polyline") == []  # two runs of one point: dots, no line
    xs = sorted(float(c.attrib["cx"]) for c in root.iter(f"{ns}circle"))
    assert len(xs) == 2
    assert xs[1] - xs[0] == pytest.approx(300 - 48 - 12)


def test_bar_chart_marks_missing_values() -> None:
    chart = bar_chart("t", ["cold", "warm"], [Series("a", [(0, 0.5), (1, None)])])
    root = ET.fromstring(chart)
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "n/a" in texts
    assert len(list(root.iter("{http://www.w3.org/2000/svg}rect"))) == 2  # bar and legend


def test_long_legends_wrap_instead_of_dropping_series() -> None:
    names = [f"model-number-{i}" for i in range(8)]
    chart = line_chart("t", [Series(n, [(1, 0.1 * i)]) for i, n in enumerate(names)])
    texts = [t.text for t in ET.fromstring(chart).iter("{http://www.w3.org/2000/svg}text")]
    assert all(n in texts for n in names)


@pytest.mark.parametrize(
    ("value", "expected"), [(0.137, 0.2), (0.2, 0.2), (0.0201, 0.025), (7.0, 10.0), (0.0, 1.0)]
)
def test_nice_ceiling(value: float, expected: float) -> None:
    assert nice_ceiling(value) == pytest.approx(expected)


@pytest.mark.parametrize("module", [html, svg])
def test_docstring_examples_run(module: ModuleType) -> None:
    assert doctest.testmod(module).failed == 0
