"""The metrics an experiment can be judged by, named in its definition.

Every metric is computed per **user** (the unit of assignment), from the events attributed to
the experiment's exposures:

- a **rate** is the share of exposed users with at least one attributed event of its types
  (``ctr``: a click; ``conversion``: a purchase or an add to cart; ``rate:<type>`` or just
  ``<type>``: any event type);
- a **mean** is the average over exposed users of the user's attributed event values per
  exposure (``dwell``: seconds of attributed dwell per recommendation shown; ``mean:<type>``:
  any event type, an event without a value counting 1).

>>> parse_metric("ctr").kind, parse_metric("share").types, parse_metric("mean:rating").kind
('rate', ('share',), 'mean')
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

__all__ = ["BUILT_IN", "Metric", "parse_metric"]

MetricKind = Literal["rate", "mean"]
_TYPE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


@dataclass(frozen=True)
class Metric:
    """A metric: its name in definitions and reports, its kind, the event types it counts."""

    name: str
    kind: MetricKind
    types: tuple[str, ...]
    label: str


BUILT_IN = {
    "ctr": Metric("ctr", "rate", ("click",), "click-through rate"),
    "conversion": Metric("conversion", "rate", ("purchase", "add_to_cart"), "conversion rate"),
    "dwell": Metric("dwell", "mean", ("dwell",), "dwell seconds per exposure"),
}
"""The built-in metrics by name."""


def parse_metric(name: str) -> Metric:
    """The metric a definition names: a built-in one, ``rate:<type>``, ``mean:<type>`` or a bare
    event type (a rate). Raises ``ValueError`` for anything else.

    >>> parse_metric("rate:share").types == parse_metric("share").types
    True
    >>> parse_metric("mean:")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ValueError: unknown metric 'mean:': use ctr, conversion, dwell, an event type, ...
    """
    if name in BUILT_IN:
        return BUILT_IN[name]
    kind, _, etype = name.rpartition(":")
    if kind in ("", "rate", "mean") and _TYPE.match(etype):
        if kind == "mean":
            return Metric(name, "mean", (etype,), f"{etype} per exposure")
        return Metric(name, "rate", (etype,), f"{etype} rate")
    raise ValueError(
        f"unknown metric {name!r}: use ctr, conversion, dwell, an event type, rate:<type> or "
        "mean:<type>"
    )
