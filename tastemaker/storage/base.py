"""The storage roles. Each backend implements these; one contract suite tests them all."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import pandas as pd

from tastemaker.catalog.events import Event
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

        With ``detail`` also ``event_id``, ``channel`` and ``device`` (from the context, or
        None), and events without an item too (``ITEM`` None): what profiles are rebuilt from.
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

    @abstractmethod
    def migrate(self) -> None:
        """Bring the schema to the newest version."""

    @abstractmethod
    def ping(self) -> None:
        """Raise ``StorageError`` if the store cannot be reached."""

    @abstractmethod
    def close(self) -> None: ...
