"""Placement configurations: what a placement's pipeline does, typed and validated on load.

A placement (homepage, article-bottom, email digest …) declares its pipeline
``candidates → merge → rank → rules → diversify → explore → explain → log``. Configurations
come from the settings file (``[placements.<name>]``) and from the API
(``PUT /v1/placements/{name}``, stored in the database, which wins over the file). Unknown keys
are errors.

Examples
--------
>>> p = PlacementConfig.model_validate({
...     "sources": [{"kind": "model", "model": "ease"}, {"kind": "popular"}],
...     "ranking": {"kind": "weighted", "weights": {"ease": 1.0, "popular": 0.2}},
... })
>>> [s.name for s in p.sources]
['ease', 'popular']
>>> PlacementConfig.model_validate({"sources": [{"kind": "model"}]})
Traceback (most recent call last):
...
pydantic_core._pydantic_core.ValidationError: 1 validation error for PlacementConfig
sources.0
  Value error, a 'model' source needs the model's name in 'model' ...
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tastemaker.catalog.common import TagPath

# The settings import this module, so it must not import them: feedback classes are spelled
# out (they are tastemaker.config.FeedbackClass's values).
FeedbackName = Literal["positive", "seen", "negative"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


SourceKind = Literal[
    "model", "popular", "trending", "similar_to_context", "similar_to_recent", "recent", "pinned"
]


class SourceSpec(_Strict):
    """One candidate source.

    ``model``: a trained model by its name in ``training.models`` (``ease``, ``als`` …).
    ``popular``/``trending``: the trained ``popular``/``trending`` model, per segment when
    ``by_segment`` (the ``trending_by_segment`` model) and within ``tags`` subtrees when given.
    ``similar_to_context``: items similar to the request's context item (``model`` compares
    them; ``content`` by default). ``similar_to_recent``: items similar to what the user
    interacted with last. ``recent``: the newest published items. ``pinned``: an editor's list.
    """

    kind: SourceKind
    model: str | None = Field(default=None, description="Model name for model/similar sources")
    name: str = Field(
        default="",
        max_length=64,
        description="Name of the source in weights, features and explanations; defaults to "
        "the model name or the kind",
    )
    k: int = Field(default=100, ge=1, le=5000, description="Candidates this source proposes")
    by_segment: bool = False
    tags: list[TagPath] = Field(default_factory=list, description="Restrict to tag subtrees")
    items: list[str] = Field(default_factory=list, max_length=1000, description="Pinned items")
    recent_items: int = Field(
        default=5, ge=1, le=100, description="similar_to_recent: how many recent items to use"
    )

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        kind = data.get("kind")
        if kind in ("similar_to_context", "similar_to_recent") and not data.get("model"):
            data["model"] = "content"
        if kind in ("popular", "trending") and not data.get("model"):
            data["model"] = (
                "trending_by_segment" if data.get("by_segment") and kind == "trending" else kind
            )
        if not data.get("name"):
            data["name"] = (data.get("model") or "model") if kind == "model" else kind
        return data

    @model_validator(mode="after")
    def _check(self) -> SourceSpec:
        if self.kind == "model" and not self.model:
            raise ValueError("a 'model' source needs the model's name in 'model'")
        if self.kind == "pinned" and not self.items:
            raise ValueError("a 'pinned' source needs its 'items'")
        return self


class RankingSpec(_Strict):
    """How the merged candidates are ordered.

    ``weighted``: the sum of each source's normalized score (min–max per source and request)
    times its weight. Weights move from ``newcomer_weights`` to ``weights`` as the user's
    history grows to ``history_threshold`` events (a linear blend), so newcomers lean on
    content and popularity and active users on collaborative sources.
    ``switching``: below ``history_threshold`` events only the ``cold_sources`` rank (weighted),
    from there on only the others.
    ``learned``: the LightGBM ranker trained under ``ranker`` (``tastemaker train-ranker``);
    falls back to ``weighted`` while none is trained.
    """

    kind: Literal["weighted", "switching", "learned"] = "weighted"
    weights: dict[str, float] = Field(default_factory=dict)
    newcomer_weights: dict[str, float] = Field(default_factory=dict)
    history_threshold: int = Field(default=10, ge=0)
    cold_sources: list[str] = Field(
        default_factory=lambda: ["content", "similar_to_recent", "popular", "trending"]
    )
    ranker: str = Field(default="ranker", description="Registry name of the learned ranker")


class Filter(_Strict):
    """Which items a rule or promotion applies to: tag subtrees, authors, sources, properties."""

    tags: list[TagPath] = Field(default_factory=list)
    authors: list[str] = Field(default_factory=list)
    sources: list[str] = Field(default_factory=list)
    properties: dict[str, list[Any]] = Field(
        default_factory=dict, description="property name → accepted values"
    )

    def empty(self) -> bool:
        return not (self.tags or self.authors or self.sources or self.properties)


class Boost(_Strict):
    """Multiply the score of the items matching ``filter`` by ``factor`` (< 1 demotes)."""

    filter: Filter
    factor: float = Field(gt=0, le=100)


class Promotion(_Strict):
    """Reserve ``slots`` positions, from ``first_position`` on, for the best items matching
    ``filter`` (``N slots from this filter``)."""

    filter: Filter
    slots: int = Field(ge=1, le=100)
    first_position: int = Field(default=0, ge=0)


class RulesSpec(_Strict):
    """Business rules applied after ranking."""

    exclude_seen: list[FeedbackName] = Field(
        default_factory=lambda: ["positive", "negative"],  # type: ignore[arg-type]
        description="Feedback classes whose items are not shown again (negatives never are)",
    )
    seen_days: float | None = Field(
        default=None, gt=0, description="Only items seen within this many days are excluded"
    )
    include: Filter = Field(default_factory=Filter, description="Only items matching this")
    exclude: Filter = Field(default_factory=Filter, description="Never items matching this")
    max_age_days: float | None = Field(
        default=None, gt=0, description="Freshness window: only items published since"
    )
    boosts: list[Boost] = Field(default_factory=list)
    freshness_boost: float = Field(
        default=0.0,
        ge=0,
        le=10,
        description="Up-weight new items: score × (1 + b·2^(-age/half-life))",
    )
    freshness_half_life_days: float = Field(default=7.0, gt=0)
    promotions: list[Promotion] = Field(default_factory=list)


class DiversitySpec(_Strict):
    """Maximal marginal relevance: each next item maximizes
    ``(1 - strength) · relevance - strength · max similarity to the items above it``."""

    strength: float = Field(default=0.0, ge=0, le=1)
    by: Literal["tags", "embeddings"] = "tags"
    window: int = Field(default=100, ge=1, le=1000, description="Top candidates re-ordered")


class ExplorationSpec(_Strict):
    """Exploration slots: a share of the list shows items a bandit wants to learn about.

    ``share`` of the ``k`` positions (rounded half up), or exactly ``slots`` of them, spread
    evenly over the positions from ``first_position`` on, go to items the ``policy`` picks among
    the explorable ones: the best ``pool`` candidates below the page (by score), and of those
    only items explored fewer than ``max_exposures`` times when it is set (new items). The
    ranked items keep their order around them. Every shown item carries the probability it was
    chosen with: 1 for the ranking's, the policy's propensity for an explored slot.

    ``seed``: ``None`` draws from fresh entropy; a number makes the choice a function of the
    seed, the placement, the user and the request time (replays give the same list).
    """

    policy: Literal["epsilon_greedy", "thompson", "ucb1"] = "thompson"
    share: float = Field(default=0.0, ge=0, le=1, description="Share of positions explored")
    slots: int | None = Field(default=None, ge=0, le=100, description="Or a number of positions")
    first_position: int = Field(default=1, ge=0, description="No exploration above this")
    pool: int = Field(default=50, ge=1, le=1000, description="Candidates below the page explored")
    max_exposures: int | None = Field(
        default=None, ge=1, description="Only items explored fewer times than this"
    )
    epsilon: float = Field(default=0.1, ge=0, le=1, description="epsilon_greedy: explore rate")
    prior: tuple[float, float] = Field(
        default=(1.0, 1.0), description="thompson: the Beta prior (alpha, beta) of a new item"
    )
    draws: int = Field(
        default=1000, ge=10, le=100_000, description="thompson: draws estimating propensities"
    )
    seed: int | None = None

    @model_validator(mode="after")
    def _check(self) -> ExplorationSpec:
        if self.slots is not None and self.share > 0:
            raise ValueError("give either 'share' or 'slots' of exploration, not both")
        if min(self.prior) <= 0:
            raise ValueError("the Beta prior's alpha and beta must be positive")
        return self

    def count(self, k: int) -> int:
        """Positions of a ``k``-item list to explore (never more than the list has below
        ``first_position``)."""
        wanted = self.slots if self.slots is not None else int(self.share * k + 0.5)
        return max(0, min(wanted, k - self.first_position))


class PlacementConfig(_Strict):
    """One placement's pipeline."""

    description: str = ""
    sources: list[SourceSpec] = Field(min_length=1)
    ranking: RankingSpec = Field(default_factory=RankingSpec)
    rules: RulesSpec = Field(default_factory=RulesSpec)
    diversity: DiversitySpec = Field(default_factory=DiversitySpec)
    exploration: ExplorationSpec = Field(default_factory=ExplorationSpec)
    k: int = Field(default=10, ge=1, le=500, description="Items per page unless asked")
    max_k: int = Field(default=100, ge=1, le=1000)
    cache_ttl_seconds: float = Field(default=30.0, ge=0, le=86_400)
    fallback: list[str] = Field(
        default_factory=lambda: ["trending", "popular"],
        description="Non-personalized models answering when the personalized path cannot",
    )

    @model_validator(mode="after")
    def _check(self) -> PlacementConfig:
        names = [s.name for s in self.sources]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"source names must be unique; repeated: {', '.join(dupes)}")
        unknown = sorted(
            (set(self.ranking.weights) | set(self.ranking.newcomer_weights)) - set(names)
        )
        if unknown:
            raise ValueError(f"weights name unknown sources: {', '.join(unknown)}")
        if self.k > self.max_k:
            raise ValueError("k must not exceed max_k")
        return self

    def unknown_models(self, known: set[str]) -> list[tuple[str, str]]:
        """``(field, model)`` for each model named here that is not among ``known``."""
        out = [
            (f"sources.{n}.model", s.model)
            for n, s in enumerate(self.sources)
            if s.model is not None and s.model not in known
        ]
        return out + [("fallback", m) for m in self.fallback if m not in known]

    def models(self) -> set[str]:
        """The trained models (and the learned ranker) this placement reads."""
        learned = {self.ranking.ranker} if self.ranking.kind == "learned" else set()
        return {s.model for s in self.sources if s.model} | set(self.fallback) | learned


def default_placements() -> dict[str, PlacementConfig]:
    """The placements a new deployment has."""
    raw: dict[str, dict[str, Any]] = {
        "homepage": {
            "description": "Personalized front page: collaborative and content sources blended",
            # The collaborative sources and weights the chronological validation of
            # bench/accuracy.py --part placements chose (ALS's weight came out 0 beside EASE),
            # plus small shares for recency and newcomers.
            "sources": [
                {"kind": "model", "model": "ease", "k": 100},
                {"kind": "model", "model": "item_knn", "k": 100},
                {"kind": "model", "model": "content", "k": 100},
                {"kind": "similar_to_recent", "k": 100},
                {"kind": "trending", "k": 100},
                {"kind": "popular", "k": 100},
            ],
            "ranking": {
                "kind": "weighted",
                "weights": {
                    "ease": 1.0,
                    "item_knn": 0.25,
                    "content": 0.25,
                    "similar_to_recent": 0.3,
                    "trending": 0.2,
                    "popular": 0.1,
                },
                "newcomer_weights": {
                    "content": 1.0,
                    "similar_to_recent": 0.8,
                    "trending": 0.6,
                    "popular": 0.4,
                },
            },
            "diversity": {"strength": 0.2},
            "rules": {"freshness_boost": 0.2},
        },
        "article-bottom": {
            "description": "Under an article: similar items, personalized when history exists",
            "sources": [
                {"kind": "similar_to_context", "k": 100},
                {"kind": "model", "model": "item_knn", "k": 100},
                {"kind": "trending", "k": 50},
            ],
            "ranking": {
                "kind": "weighted",
                "weights": {"similar_to_context": 1.0, "item_knn": 0.5, "trending": 0.1},
            },
            "diversity": {"strength": 0.3},
            "k": 5,
        },
        "email-digest": {
            "description": "Weekly digest: the week's best for the reader, no repeats",
            "sources": [
                {"kind": "model", "model": "ease", "k": 200},
                {"kind": "model", "model": "content", "k": 200},
                {"kind": "recent", "k": 200},
            ],
            "ranking": {
                "kind": "switching",
                "weights": {"ease": 1.0, "content": 0.3, "recent": 0.2},
                "cold_sources": ["content", "recent"],
            },
            "rules": {"max_age_days": 7, "exclude_seen": ["positive", "seen", "negative"]},
            "diversity": {"strength": 0.4},
            "cache_ttl_seconds": 3600,
        },
    }
    return {name: PlacementConfig.model_validate(cfg) for name, cfg in raw.items()}
