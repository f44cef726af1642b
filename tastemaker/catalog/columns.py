"""Column names of interaction frames, shared by models and evaluation.

Every :class:`pandas.DataFrame` of interactions, recommendations or scores inside Tastemaker uses
these names, so no module spells a column name as a bare string.

>>> import pandas as pd
>>> frame = pd.DataFrame({Columns.USER: ["u1"], Columns.ITEM: ["i1"], Columns.TIMESTAMP: [0]})
>>> list(frame.columns)
['user_id', 'item_id', 'timestamp']
"""

from __future__ import annotations

from typing import Final


class Columns:
    """Names of the columns of interaction, recommendation and score frames.

    Attributes
    ----------
    USER : str
        The user id: the external id at the edges, an integer index inside the core.
    ITEM : str
        The item id, likewise external at the edges and an integer index inside the core.
    TIMESTAMP : str
        When the interaction happened, as ``int64`` **microseconds since the Unix epoch, UTC** --
        the representation the durable store keeps (``tastemaker.storage.types.EpochMicros``).
        Integers sort and compare fast and cannot lose a time zone. Evaluation also accepts a
        pandas ``datetime64`` column where it only needs to order or cut by time.
    WEIGHT : str
        How strongly the interaction counts (``float``), e.g. the feedback-class weight.
    TYPE : str
        The event type (``"view"``, ``"click"``, ``"purchase"`` ...).
    VALUE : str
        The event value (a rating, dwell seconds ...), ``float``.
    SCORE : str
        A model's score for a (user, item) pair; higher is better.
    RANK : str
        The 1-based position of an item in a user's recommendation list.
    EVENT_ID, CHANNEL, DEVICE : str
        The event's idempotency key, channel and device, in detailed event frames.
    RECOMMENDATION_ID, PLACEMENT, PAGE : str
        In exposure frames: the recommendation a shown item belonged to, the placement that
        showed it and the page of the list (``0`` first).
    POSITION : str
        The 0-based position of a shown item within the whole list, across pages.
    SOURCE : str
        The candidate source that produced a shown item (``"als"``, ``"popular"`` ...).
    PROPENSITY : str
        The probability with which the serving policy chose a shown item (``float``, NaN when
        not recorded), for off-policy evaluation.
    EXPERIMENT, ARM : str
        The experiment a recommendation was served under and the arm it was assigned.
    FEATURES : str
        The ranker features used for a shown item, a ``dict[str, float]`` per row.
    LABEL : str
        The graded outcome of a shown item for training a ranker (``int`` ≥ 0, 0 = nothing).

    Examples
    --------
    >>> Columns.USER, Columns.ITEM, Columns.TIMESTAMP
    ('user_id', 'item_id', 'timestamp')
    >>> Columns.INTERACTIONS
    ('user_id', 'item_id', 'weight', 'timestamp')
    """

    USER: Final = "user_id"
    ITEM: Final = "item_id"
    TIMESTAMP: Final = "timestamp"
    WEIGHT: Final = "weight"
    TYPE: Final = "type"
    VALUE: Final = "value"
    SCORE: Final = "score"
    RANK: Final = "rank"
    EVENT_ID: Final = "event_id"
    CHANNEL: Final = "channel"
    DEVICE: Final = "device"
    RECOMMENDATION_ID: Final = "recommendation_id"
    PLACEMENT: Final = "placement"
    PAGE: Final = "page"
    POSITION: Final = "position"
    SOURCE: Final = "source"
    PROPENSITY: Final = "propensity"
    EXPERIMENT: Final = "experiment"
    ARM: Final = "arm"
    FEATURES: Final = "features"
    LABEL: Final = "label"

    INTERACTIONS: Final = (USER, ITEM, WEIGHT, TIMESTAMP)
    """The columns of a model's training frame, in their conventional order."""

    RECOMMENDATIONS: Final = (USER, ITEM, SCORE, RANK)
    """The columns of a recommendation frame, in their conventional order."""
