r"""The engagement score: one number in [0, 1] for how engaged a user is right now.

.. math::

    E = 0.35\,R + 0.30\,F + 0.20\,D + 0.15\,C

========  =====================================================  ===============================
term      formula                                                reads
========  =====================================================  ===============================
recency   :math:`R = 2^{-d / h_r}`                               ``d`` days since the last event,
                                                                 ``h_r`` = 7 days (configurable:
                                                                 ``recency_half_life_days``)
frequency :math:`F = 1 - e^{-S / 5}`                             ``S`` sessions, each weighted
                                                                 :math:`2^{-age/h}` (``h`` = the
                                                                 affinity half-life, 30 days)
depth     :math:`D = \tfrac12(1 - e^{-w/60}) + \tfrac12\,s/100`  ``w`` mean dwell seconds, ``s``
                                                                 mean scroll depth in percent; a
                                                                 missing half is replaced by the
                                                                 other, both missing give 0
conversion :math:`C = 1 - e^{-P / 2}`                            ``P`` purchases
========  =====================================================  ===============================

Every term saturates, so no single habit (a thousand page views, one huge dwell) dominates, and
recency makes the score fade when a user stops coming. A user seen today (R = 1) with a steady
weekly session (S ≈ 6.7, F ≈ 0.74), one-minute reads at half depth and no purchase scores
0.35 + 0.22 + 0.11 + 0 ≈ 0.68; the same user after a month away (R ≈ 0.05, S halved) scores
about 0.28.

Examples
--------
>>> round(engagement_score(recency_days=0.0, frequency=5.0, dwell_seconds=60.0,
...                        scroll_depth=50.0, purchases=2), 4)
0.7477
>>> engagement_score(recency_days=None, frequency=0.0, dwell_seconds=None, scroll_depth=None,
...                  purchases=0)
0.0
"""

from __future__ import annotations

from math import exp, exp2
from typing import Final

W_RECENCY: Final = 0.35
W_FREQUENCY: Final = 0.30
W_DEPTH: Final = 0.20
W_CONVERSION: Final = 0.15
SESSION_SCALE: Final = 5.0
"""Decayed sessions at which frequency reaches 1 − 1/e."""
DWELL_SCALE: Final = 60.0
"""Mean dwell seconds at which the dwell half of depth reaches 1 − 1/e."""
PURCHASE_SCALE: Final = 2.0
"""Purchases at which conversion reaches 1 − 1/e."""


def engagement_score(
    recency_days: float | None,
    frequency: float,
    dwell_seconds: float | None,
    scroll_depth: float | None,
    purchases: int,
    recency_half_life_days: float = 7.0,
) -> float:
    """The engagement score of the module docstring.

    Parameters
    ----------
    recency_days
        Days since the user's last event (``None`` if there is none); negative values count as 0.
    frequency
        Sessions, each weighted by ``2^(−age/half-life)``.
    dwell_seconds, scroll_depth
        Mean dwell time in seconds and mean scroll depth in percent, or ``None``.
    purchases
        Purchases so far.
    recency_half_life_days
        Days after which the recency term halves.

    Returns
    -------
    float
        The score, in [0, 1].
    """
    recency = (
        0.0 if recency_days is None else exp2(-max(recency_days, 0.0) / recency_half_life_days)
    )
    freq = 1.0 - exp(-max(frequency, 0.0) / SESSION_SCALE)
    dwell = None if dwell_seconds is None else 1.0 - exp(-max(dwell_seconds, 0.0) / DWELL_SCALE)
    scroll = None if scroll_depth is None else min(max(scroll_depth / 100.0, 0.0), 1.0)
    if dwell is None:
        depth = 0.0 if scroll is None else scroll
    else:
        depth = dwell if scroll is None else 0.5 * (dwell + scroll)
    conversion = 1.0 - exp(-max(purchases, 0) / PURCHASE_SCALE)
    return W_RECENCY * recency + W_FREQUENCY * freq + W_DEPTH * depth + W_CONVERSION * conversion
