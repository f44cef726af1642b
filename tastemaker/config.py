"""Settings: one object, read once, injected everywhere.

Nothing else in Tastemaker reads environment variables. Values come, highest priority first, from
keyword arguments, ``TASTEMAKER_*`` environment variables, and a TOML file named by
``TASTEMAKER_CONFIG`` (or passed as ``config_file``). Unknown keys are rejected.

Example
-------
>>> s = Settings(database_url="sqlite:///:memory:", secret_keys=["x" * 32])
>>> s.max_batch_events
1000
>>> s.feedback.classify("dwell", 45.0)
('positive', 1.0)
"""

from __future__ import annotations

import json
import os
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from tastemaker.pipeline.config import PlacementConfig

ENV_PREFIX = "TASTEMAKER_"


class FeedbackClass(StrEnum):
    """How an interaction counts for learning."""

    POSITIVE = "positive"
    SEEN = "seen"
    NEGATIVE = "negative"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EventTypeSpec(_Strict):
    """What an event type requires.

    ``value`` says whether the event carries a number (``required``, ``optional`` or
    ``forbidden``); ``min_value``/``max_value`` bound it.
    """

    requires_item: bool = True
    value: Literal["required", "optional", "forbidden"] = "forbidden"
    min_value: float | None = None
    max_value: float | None = None
    description: str = ""


class FeedbackRule(_Strict):
    """One rule of the feedback policy: the first rule of a type whose bounds hold wins."""

    type: str
    feedback: FeedbackClass
    weight: float = Field(default=1.0, ge=0.0)
    min_value: float | None = None
    max_value: float | None = None

    def matches(self, value: float | None) -> bool:
        if self.min_value is not None and (value is None or value < self.min_value):
            return False
        return not (self.max_value is not None and (value is None or value > self.max_value))


def _default_event_types() -> dict[str, EventTypeSpec]:
    return {
        "impression": EventTypeSpec(description="the item was shown"),
        "view": EventTypeSpec(description="the item's page was opened"),
        "click": EventTypeSpec(description="a shown item was clicked"),
        "dwell": EventTypeSpec(value="required", min_value=0, description="seconds on the item"),
        "scroll": EventTypeSpec(
            value="required", min_value=0, max_value=100, description="scroll depth in percent"
        ),
        "like": EventTypeSpec(description="thumbs up"),
        "dislike": EventTypeSpec(description="thumbs down"),
        "rating": EventTypeSpec(
            value="required", min_value=0, max_value=5, description="explicit rating, 0 to 5"
        ),
        "share": EventTypeSpec(description="the item was shared"),
        "add_to_cart": EventTypeSpec(value="optional", min_value=0, description="quantity"),
        "purchase": EventTypeSpec(value="optional", min_value=0, description="amount paid"),
    }


def _default_feedback_rules() -> list[FeedbackRule]:
    p, s, n = FeedbackClass.POSITIVE, FeedbackClass.SEEN, FeedbackClass.NEGATIVE
    return [
        FeedbackRule(type="impression", feedback=s, weight=0.0),
        FeedbackRule(type="view", feedback=p, weight=1.0),
        FeedbackRule(type="click", feedback=p, weight=1.0),
        FeedbackRule(type="dwell", feedback=p, weight=1.0, min_value=30),
        FeedbackRule(type="dwell", feedback=s, weight=0.0),
        FeedbackRule(type="scroll", feedback=p, weight=0.5, min_value=75),
        FeedbackRule(type="scroll", feedback=s, weight=0.0),
        FeedbackRule(type="like", feedback=p, weight=2.0),
        FeedbackRule(type="dislike", feedback=n, weight=2.0),
        FeedbackRule(type="rating", feedback=p, weight=2.0, min_value=4),
        FeedbackRule(type="rating", feedback=n, weight=1.0, max_value=2),
        FeedbackRule(type="rating", feedback=s, weight=0.0),
        FeedbackRule(type="share", feedback=p, weight=2.0),
        FeedbackRule(type="add_to_cart", feedback=p, weight=2.0),
        FeedbackRule(type="purchase", feedback=p, weight=4.0),
    ]


class FeedbackPolicy(_Strict):
    """Maps an event (type, value) to a feedback class and a weight.

    Rules are tried in order; the first rule of the event's type whose bounds hold decides. An
    event type without a matching rule counts as ``seen`` with weight 0.
    """

    rules: list[FeedbackRule] = Field(default_factory=_default_feedback_rules)

    def classify(self, event_type: str, value: float | None) -> tuple[str, float]:
        for rule in self.rules:
            if rule.type == event_type and rule.matches(value):
                return rule.feedback.value, rule.weight
        return FeedbackClass.SEEN.value, 0.0


class ModelSpec(_Strict):
    """One configured model: which recommender, its parameters and the grid to tune over."""

    model: str = Field(
        description="A model name: popularity, item_knn, ease, als, content, segmented"
    )
    params: dict[str, Any] = Field(default_factory=dict)
    search: dict[str, list[Any]] = Field(
        default_factory=dict, description="Parameter grid for `tastemaker evaluate --tune`"
    )


def _default_models() -> dict[str, ModelSpec]:
    return {
        "popular": ModelSpec(model="popularity"),
        "trending": ModelSpec(model="popularity", params={"half_life_days": 7.0}),
        "item_knn": ModelSpec(
            model="item_knn", search={"neighbors": [50, 100, 200], "shrinkage": [0.0, 10.0]}
        ),
        "ease": ModelSpec(model="ease", search={"l2": [50.0, 200.0, 500.0, 1000.0]}),
        "als": ModelSpec(
            model="als",
            search={"factors": [64, 128], "regularization": [5.0, 15.0, 30.0], "alpha": [0.5, 1.0]},
        ),
        "content": ModelSpec(model="content"),
        "trending_by_segment": ModelSpec(
            model="popularity", params={"half_life_days": 7.0, "by_segment": True}
        ),
    }


class RankerSpec(_Strict):
    """The learned ranker `tastemaker train-ranker` trains (``ranking.kind = "learned"``)."""

    sources: list[str] = Field(
        default_factory=lambda: ["ease", "als", "item_knn", "popular", "content"],
        description="Models (names in training.models) whose candidates it ranks; a placement "
        "ranked by it should have model sources of these names",
    )
    params: dict[str, Any] = Field(
        default_factory=dict, description="RankerConfig fields (n_estimators, candidates …)"
    )


class TrainingSettings(_Strict):
    """What `tastemaker train` and `tastemaker evaluate` do."""

    models: dict[str, ModelSpec] = Field(default_factory=_default_models)
    ranker: RankerSpec = Field(default_factory=RankerSpec)
    gate_metric: str = Field(default="ndcg@10", description="Metric of the quality gate")
    gate_tolerance: float = Field(
        default=0.05,
        ge=0,
        le=1,
        description="A new version goes live only if its gate metric on the holdout is at least "
        "(1 - tolerance) × the active version's",
    )
    keep_versions: int = Field(default=5, ge=1, description="Inactive versions kept per model")
    test_fraction: float = Field(default=0.2, gt=0, lt=1)
    min_user_interactions: int = Field(default=5, ge=2)


class CacheSettings(_Strict):
    """The recommendation cache (``tastemaker.serving.cache``): in process, or in Redis when
    ``redis_url`` is set.

    Examples
    --------
    >>> CacheSettings().max_entries
    100000
    >>> CacheSettings(default_ttl_seconds=30).max_ttl_seconds
    3600.0
    """

    max_entries: int = Field(
        default=100_000, ge=1, description="Cached lists kept in process (least recently used go)"
    )
    key_prefix: str = Field(
        default="tm:cache:", min_length=1, description="Prefix of every Redis key of the cache"
    )
    socket_timeout_ms: float = Field(
        default=50.0, gt=0, description="Redis connect and read timeout; past it, a miss"
    )
    default_ttl_seconds: float = Field(
        default=60.0, gt=0, description="How long a list stays cached unless the placement says"
    )
    max_ttl_seconds: float = Field(
        default=3600.0,
        gt=0,
        description="Upper bound of every TTL; also how long Redis keeps a user's invalidation",
    )
    retry_seconds: float = Field(
        default=1.0, ge=0, description="After a Redis error, Redis is left alone this long"
    )

    @model_validator(mode="after")
    def _ttl_bounded(self) -> CacheSettings:
        if self.default_ttl_seconds > self.max_ttl_seconds:
            raise ValueError("default_ttl_seconds must not exceed max_ttl_seconds")
        return self


class ProfileSettings(_Strict):
    """How the online user profiles (``tastemaker.profiles``) are kept.

    Examples
    --------
    >>> ProfileSettings().session_gap_minutes
    30.0
    >>> ProfileSettings(half_life_days=7).tag_parent_decay
    0.5
    """

    session_gap_minutes: float = Field(
        default=30.0, gt=0, description="Inactivity that ends a session"
    )
    half_life_days: float = Field(
        default=30.0,
        gt=0,
        description="Half-life of tag, author and source affinities and of session frequency",
    )
    tag_parent_decay: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="Share of an interaction a tag's parent receives, per level up "
        "(Tech > Phones > Android: Phones gets 0.5, Tech 0.25)",
    )
    recency_half_life_days: float = Field(
        default=7.0, gt=0, description="Half-life of the recency term of the engagement score"
    )
    preference_weight: float = Field(
        default=2.0,
        ge=0,
        description="Affinity (not decaying) a tag, author or source the user chose explicitly "
        "adds, as if the user had interacted with it with this weight",
    )
    recent_items: int = Field(default=20, ge=0, le=1000, description="Recent items kept")
    recent_event_ids: int = Field(
        default=64,
        ge=0,
        le=100_000,
        description="Event ids kept per profile so a retried event is not counted twice",
    )
    capacity: int = Field(
        default=100_000, ge=1, description="Profiles kept in memory (least recently used go)"
    )
    history_limit: int = Field(
        default=10_000,
        ge=0,
        description="Stored events read to restore a profile that is not in memory",
    )
    rebuild_on_start: bool = Field(
        default=True, description="Rebuild every profile from the stored events when serving"
    )


class Settings(BaseSettings):
    """Every setting of a Tastemaker deployment."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="forbid", frozen=True, env_nested_delimiter="__"
    )

    database_url: str = Field(
        default="sqlite:///./tastemaker.db",
        description="Durable store: sqlite:///path.db or postgresql://user@host/db",
    )
    redis_url: str | None = Field(default=None, description="redis://host:port/db when scaled out")
    secret_keys: list[SecretStr] = Field(
        default_factory=list,
        description=(
            "Keys (≥ 32 characters) for encryption at rest and pseudonymization. The first "
            "encrypts; all decrypt, so a key can be rotated. Never stored in the database."
        ),
    )
    insecure_dev: bool = Field(
        default=False,
        description="Serve without API keys and with a built-in secret. Development only.",
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    max_batch_events: int = Field(default=1000, ge=1, le=100_000)
    max_batch_items: int = Field(default=1000, ge=1, le=100_000)
    max_body_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    ingest_concurrency: int = Field(
        default=0,
        ge=0,
        le=64,
        description=(
            "Write requests (event batches) one process handles at once; 0 picks by database: "
            "1 on SQLite, which takes one writer at a time anyway (parsing more batches in "
            "parallel only makes the threads fight over the interpreter lock), 4 on PostgreSQL"
        ),
    )
    compute_on_loop: bool | None = Field(
        default=None,
        description=(
            "Compute cold recommendation answers (and make Redis cache lookups) on the "
            "server's event loop instead of in threads; unset picks the loop. One process "
            "computes one answer at a time anyway (the interpreter lock), and threads sharing "
            "it cost far more than they save while "
            "the database is near (bench/serve.py, PostgreSQL on the same machine, 200 cold "
            "requests/s: p99 13 ms on the loop, 370-920 ms in threads). Set false when the "
            "database or Redis is far away: on the loop each answer's round trips hold up the "
            "process's other requests"
        ),
    )
    max_clock_skew_seconds: float = Field(
        default=86_400.0, ge=0, description="How far in the future an event timestamp may lie"
    )
    event_types: dict[str, EventTypeSpec] = Field(default_factory=_default_event_types)
    channels: list[str] = Field(default_factory=lambda: ["web", "app", "email", "social"])
    feedback: FeedbackPolicy = Field(default_factory=FeedbackPolicy)
    training: TrainingSettings = Field(default_factory=TrainingSettings)
    cache: CacheSettings = Field(default_factory=CacheSettings)
    profiles: ProfileSettings = Field(default_factory=ProfileSettings)
    model_poll_seconds: float = Field(
        default=5.0,
        gt=0,
        le=3600,
        description="How often a server checks the registry for new live model versions",
    )
    placements: dict[str, PlacementConfig] = Field(
        default_factory=dict,
        description="Placements added to (or replacing, by name) the built-in homepage, "
        "article-bottom and email-digest; the API can change them at run time",
    )
    plain_traits: list[str] = Field(
        default_factory=lambda: ["device"],
        description="User traits stored in clear text; every other trait is encrypted at rest.",
    )
    config_file: Path | None = Field(default=None, exclude=True)

    @field_validator("secret_keys")
    @classmethod
    def _keys_long_enough(cls, keys: list[SecretStr]) -> list[SecretStr]:
        for k in keys:
            if len(k.get_secret_value()) < 32:
                raise ValueError("each secret key needs at least 32 characters")
        return keys

    @model_validator(mode="after")
    def _feedback_types_known(self) -> Settings:
        unknown = sorted({r.type for r in self.feedback.rules} - set(self.event_types))
        if unknown:
            raise ValueError(f"feedback rules name unknown event types: {', '.join(unknown)}")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_path = os.environ.get(ENV_PREFIX + "CONFIG")
        if config_path:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(config_path)))
        return tuple(sources)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def load_settings(**overrides: Any) -> Settings:
    """Read the settings once; raise :class:`ConfigurationError` with every problem listed."""
    from pydantic import ValidationError

    from tastemaker.errors import ConfigurationError

    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        lines = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise ConfigurationError("invalid settings:\n  " + "\n  ".join(lines)) from exc


def export_overrides(**overrides: Any) -> None:
    """Put setting overrides (``None``: not overridden) into this process's environment, where
    :func:`load_settings` in the processes it starts will find them: how ``tastemaker serve
    --workers N`` passes its command-line options to the server processes uvicorn spawns.

    >>> export_overrides(max_batch_events=5, redis_url=None)
    >>> load_settings(database_url="sqlite://", secret_keys=["x" * 32]).max_batch_events
    5
    >>> del os.environ["TASTEMAKER_MAX_BATCH_EVENTS"]
    """
    for name, value in overrides.items():
        if name not in Settings.model_fields:
            raise ValueError(f"no setting {name!r}")
        if value is not None:
            os.environ[ENV_PREFIX + name.upper()] = (
                value if isinstance(value, str) else json.dumps(value)
            )


def backends_for_tests() -> dict[str, str | None]:
    """Backends the test suite may use (read here because only this module reads the env)."""
    return {
        "postgres": os.environ.get("TASTEMAKER_TEST_POSTGRES_URL"),
        "redis": os.environ.get("TASTEMAKER_TEST_REDIS_URL"),
        "ci": os.environ.get("CI"),
    }
