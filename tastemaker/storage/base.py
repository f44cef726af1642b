"""The storage roles. Each backend implements these; one contract suite tests them all."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import pandas as pd

from tastemaker.catalog.events import Event
from tastemaker.catalog.exposures import Exposure
from tastemaker.catalog.items import Item
from tastemaker.catalog.records import (
    AppendResult,
    EventRecord,
    ItemRecord,
    UpsertResult,
    UserRecord,
)
from tastemaker.catalog.users import Preferences, User


class ItemRepository(ABC):
    """The catalog."""

    @abstractmethod
    def upsert(self, items: Sequence[Item], now: datetime) -> UpsertResult:
        """Create or replace items, all or nothing."""

    @abstractmethod
    def get(self, item_id: str) -> ItemRecord | None: ...

    @abstractmethod
    def get_many(self, item_ids: Sequence[str]) -> list[ItemRecord]:
        """The stored items among ``item_ids`` (in one round trip; unknown ids are skipped)."""

    @abstractmethod
    def delete(self, item_id: str) -> bool:
        """Remove an item; ``False`` if there was none."""

    @abstractmethod
    def count(self) -> int: ...

    @abstractmethod
    def iterate(self, batch_size: int = 1000) -> Iterator[ItemRecord]:
        """Every item, in insertion order."""


class UserRepository(ABC):
    """Users: pseudonymized ids, encrypted personal traits, consent."""

    @abstractmethod
    def upsert(self, users: Sequence[User], now: datetime) -> UpsertResult:
        """Create or replace users (consent merges per purpose), all or nothing."""

    @abstractmethod
    def get(self, user_id: str) -> UserRecord | None: ...

    @abstractmethod
    def count(self) -> int: ...

    @abstractmethod
    def iterate(self, batch_size: int = 1000) -> Iterator[UserRecord]: ...

    @abstractmethod
    def erase(self, user_id: str) -> dict[str, int] | None:
        """Delete the user from every table; rows removed per table, or ``None`` if unknown."""

    @abstractmethod
    def merge(self, anonymous_id: str, known_id: str, now: datetime) -> int:
        """Move everything of an anonymous user to a known one, in one transaction.

        Events (with their ``event_id``), exposures and every other row that belongs to the
        anonymous user move to the known user, who is created if unknown; then the anonymous
        user is deleted. Where both hold a row for the same key (a consent for the same
        purpose), the known user's row wins. The known user's traits and preferences win too;
        each of the two is taken from the anonymous user only where the known user has none.

        Returns the number of events moved: ``0`` for an anonymous id that is unknown or was
        merged already. Raises ``InvalidInput`` if both ids are the same.
        """


class HistoryRow(NamedTuple):
    """One event as :meth:`EventLog.history` gives it; times in microseconds since the epoch."""

    item_id: str | None
    type: str
    value: float | None
    ts: int
    received_at: int


class EventLog(ABC):
    """The append-only, idempotent event log."""

    @abstractmethod
    def append(self, events: Sequence[Event], now: datetime) -> AppendResult:
        """Store a batch durably, all or nothing.

        An event whose ``event_id`` is stored with the same payload is a duplicate and is
        skipped; with a different payload the whole batch fails with ``EventConflict``.
        """

    @abstractmethod
    def count(self) -> int: ...

    @abstractmethod
    def history(self, user_id: str, limit: int = 500) -> list[HistoryRow]:
        """The user's newest events, newest first, reduced to what ranking needs (the serving
        path reads it on every request: no context, no properties, no decryption)."""

    @abstractmethod
    def for_user(self, user_id: str, limit: int = 1000) -> list[EventRecord]:
        """A user's events, newest first."""

    @abstractmethod
    def iterate(self, after_seq: int = 0, batch_size: int = 5000) -> Iterator[EventRecord]:
        """Every event with ``seq > after_seq`` in arrival order."""

    @abstractmethod
    def ids(self) -> set[str]:
        """Every stored event id (for audits and tests; loads them all)."""


@dataclass(frozen=True)
class ApiKey:
    """A stored API key (never its secret)."""

    prefix: str
    name: str
    scopes: frozenset[str]
    created_at: datetime
    revoked_at: datetime | None


class KeyRepository(ABC):
    """API keys, stored as SHA-256 hashes."""

    @abstractmethod
    def create(self, name: str, scopes: Sequence[str], now: datetime) -> tuple[str, ApiKey]:
        """A new key: the secret (shown once) and its record."""

    @abstractmethod
    def verify(self, secret: str) -> ApiKey | None:
        """The active key for a presented secret, or ``None``."""

    @abstractmethod
    def list(self) -> list[ApiKey]: ...

    @abstractmethod
    def revoke(self, prefix: str, now: datetime) -> bool: ...

    @abstractmethod
    def any_active(self) -> bool: ...


@dataclass(frozen=True)
class ModelVersion:
    """A stored model version (without its artifact)."""

    name: str
    version: int
    kind: str
    config: dict[str, Any]
    metrics: dict[str, Any]
    status: str  # "candidate", "active" or "retired"
    created_at: datetime
    size_bytes: int


class ModelRegistry(ABC):
    """Versioned model artifacts; one version per name is active and served."""

    @abstractmethod
    def save(
        self,
        name: str,
        kind: str,
        blob: bytes,
        config: dict[str, Any],
        metrics: dict[str, Any],
        now: datetime,
        activate: bool = False,
    ) -> ModelVersion:
        """Store a new version (numbered 1, 2, … per name)."""

    @abstractmethod
    def activate(self, name: str, version: int) -> ModelVersion:
        """Make ``version`` the served one; the previously active version is retired."""

    @abstractmethod
    def active(self, name: str) -> ModelVersion | None:
        """The served version's record (cheap: servers poll it to hot-swap)."""

    @abstractmethod
    def blob(self, name: str, version: int) -> bytes: ...

    @abstractmethod
    def versions(self, name: str | None = None) -> list[ModelVersion]:
        """Every version, newest first."""

    @abstractmethod
    def prune(self, name: str, keep: int) -> int:
        """Delete all but the newest ``keep`` non-active versions; returns how many went."""


class ExposureLog(ABC):
    """What recommendation responses showed: one :class:`Exposure` per page of a response."""

    @abstractmethod
    def log(self, exposure: Exposure) -> None:
        """Store an exposure durably, creating its user if unknown.

        ``(recommendation_id, page)`` identifies it: logging it again with equal content does
        nothing; with other content raises ``Conflict`` and changes nothing.
        """

    @abstractmethod
    def log_many(self, exposures: Sequence[Exposure]) -> None:
        """:meth:`log` for several exposures in one transaction: all are stored or, on any
        conflict, none."""

    @abstractmethod
    def get(self, recommendation_id: str) -> list[Exposure]:
        """Every page of a recommendation in page order; empty if the id is unknown."""

    @abstractmethod
    def shown_items(self, recommendation_id: str) -> set[str]:
        """Every item id shown on any page of a recommendation (to serve the next without
        repeats)."""

    @abstractmethod
    def frame(self, since: datetime | None = None, placement: str | None = None) -> pd.DataFrame:
        """One row per shown item, in logging order, of exposures created at or after
        ``since`` and of ``placement`` (all if ``None``).

        Columns ``RECOMMENDATION_ID``, ``USER`` (the user key, as in :class:`Snapshot`),
        ``ITEM``, ``TIMESTAMP`` (int64 micros of the exposure), ``PLACEMENT``, ``PAGE``,
        ``POSITION`` (int64), ``SCORE``, ``PROPENSITY`` (float64, NaN if not logged),
        ``SOURCE``, ``EXPERIMENT``, ``ARM`` (strings, missing ones NA) and ``FEATURES`` (a
        ``dict[str, float]`` per row, NaN for a missing feature).
        """

    @abstractmethod
    def count(self) -> int:
        """The number of logged exposures (pages, not items)."""


class PlacementRepository(ABC):
    """Named placement configurations (validated JSON documents), versioned with history.

    Every change (put or delete) raises :meth:`revision`, so stateless replicas can poll one
    number and reload only when it moved.
    """

    @abstractmethod
    def put(self, name: str, config: dict[str, Any], now: datetime) -> int:
        """Store a new version of ``name``; returns its number (1, 2, … per name)."""

    @abstractmethod
    def get(self, name: str) -> tuple[int, dict[str, Any]] | None:
        """The latest version and its configuration, or ``None`` if absent or deleted."""

    @abstractmethod
    def history(self, name: str) -> list[tuple[int, dict[str, Any] | None]]:
        """Every version of ``name``, newest first; a deletion has ``None`` as configuration."""

    @abstractmethod
    def list(self) -> dict[str, tuple[int, dict[str, Any]]]:
        """The latest version of every placement that is not deleted."""

    @abstractmethod
    def delete(self, name: str, now: datetime | None = None) -> bool:
        """Delete a placement (its history stays); ``False`` if there was none."""

    @abstractmethod
    def revision(self) -> int:
        """A number that grows with every put and delete (``0`` before the first)."""


@dataclass(frozen=True)
class StoredExperiment:
    """An experiment as stored: the columns the store itself needs and the rest as a document.

    ``status`` is ``"draft"``, ``"running"`` or ``"stopped"``. ``slice`` is the part
    ``[start, end)`` of its layer's hash range the experiment holds, set when it starts.
    """

    experiment_id: str
    placement: str
    layer: str
    traffic: float
    definition: dict[str, Any]
    created_at: datetime
    status: str = "draft"
    started_at: datetime | None = None
    stopped_at: datetime | None = None
    slice: tuple[float, float] | None = None


class ExperimentRepository(ABC):
    """Experiment definitions and their life cycle: draft → running → stopped.

    Starting an experiment gives it a slice of its layer's hash range ``[0, 1)`` as wide as its
    ``traffic``: the lowest free one among the running experiments of the layer, taken under a
    lock so that two replicas starting experiments at once cannot take overlapping slices.
    """

    @abstractmethod
    def create(self, experiment: StoredExperiment) -> None:
        """Store a new draft; ``Conflict`` if the id exists (whatever its status)."""

    @abstractmethod
    def get(self, experiment_id: str) -> StoredExperiment | None: ...

    @abstractmethod
    def list(self, status: str | None = None) -> list[StoredExperiment]:
        """Every experiment (of ``status``), oldest first."""

    @abstractmethod
    def start(self, experiment_id: str, now: datetime) -> StoredExperiment:
        """Run a draft: ``NotFound`` if unknown; ``Conflict`` if it is not a draft, if its layer
        has no free slice as wide as its traffic, or if an experiment of another layer runs on
        the same placement (a user could be in both)."""

    @abstractmethod
    def stop(self, experiment_id: str, now: datetime) -> StoredExperiment:
        """Stop a running experiment for good (its slice frees); ``NotFound`` if unknown,
        ``Conflict`` if it is not running."""


class Snapshot(ABC):
    """Bulk, columnar reads for training: the store's side of ``store snapshot → trainer``.

    Users appear under their *user key*: a stable pseudonym (hex), never the external id, so
    model artifacts carry no identifiers. :meth:`user_key` maps an external id to it.
    """

    @abstractmethod
    def user_key(self, user_id: str) -> str: ...

    @abstractmethod
    def events(self, types: Sequence[str] | None = None, *, detail: bool = False) -> pd.DataFrame:
        """Columns ``USER`` (user key), ``ITEM``, ``TYPE``, ``VALUE``, ``TIMESTAMP`` (int64
        micros), in arrival order; only events with an item.

        With ``detail`` also ``event_id``, ``channel``, ``device`` and ``recommendation_id``
        (from the context, or None), and events without an item too (``ITEM`` None): what
        profiles are rebuilt from and exposures are attributed with.
        """

    @abstractmethod
    def preferences(self) -> dict[str, Preferences]:
        """Every user's explicit preferences by user key (users without any are left out)."""

    @abstractmethod
    def items(self) -> pd.DataFrame:
        """Indexed by item id; columns ``title, summary, text, tags, author, source,
        published_at`` (int64 micros or -1), ``expires_at``, ``recommendable``."""


class DataStore(ABC):
    """The durable store: one object per process, shared by every request."""

    items: ItemRepository
    users: UserRepository
    events: EventLog
    keys: KeyRepository
    models: ModelRegistry
    snapshot: Snapshot
    exposures: ExposureLog
    placements: PlacementRepository
    experiments: ExperimentRepository

    @abstractmethod
    def migrate(self) -> None:
        """Bring the schema to the newest version."""

    @abstractmethod
    def ping(self) -> None:
        """Raise ``StorageError`` if the store cannot be reached."""

    @abstractmethod
    def close(self) -> None: ...
