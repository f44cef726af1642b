"""A per-user cache of rendered recommendation responses, in process or shared through Redis.

Keys
    An entry is addressed by ``(user_key, placement, variant)``. ``user_key`` is the store's
    pseudonymous key of the user (``store.snapshot.user_key(user_id)``, cached by
    ``ProfileUpdater.user_key``), never the external id, so neither the process nor Redis holds
    identifiers. ``variant`` is an opaque string the caller builds from everything else that
    shapes the response (k, context item, page, …). Values are bytes (the rendered response).

Invalidation without scans
    Every entry is stamped with the generation of its user and of the whole cache at the moment
    it was looked up. :meth:`RecommendationCache.invalidate_user` moves one user's generation
    and :meth:`RecommendationCache.invalidate_all` (a model hot-swap, a placement edited) the
    global one: one dictionary write or one Redis ``SET``, whatever the number of entries.
    Entries with an older stamp no longer match and age out through the size bound or their TTL.

Lookup, compute, put
    Pass the stamp of the :class:`Lookup` that missed to :meth:`RecommendationCache.put`. An
    event that invalidates the user while the response is being computed then makes the stored
    entry stale at once, instead of letting a response computed from the old profile live for a
    whole TTL. For the same reason ingestion invalidates *after* the profiles applied the batch.

Events and replicas
    ``POST /v1/events`` calls :meth:`RecommendationCache.invalidate_users` with the users of
    every stored batch. With Redis (:class:`tastemaker.serving.cache_redis.RedisCache`) the
    generations live in Redis, so an event ingested by replica A invalidates the entries every
    replica cached for that user. The in-process :class:`MemoryCache` is private to one process:
    with several API processes, configure ``redis_url``.

Failures
    A cache never raises into a request. Redis errors become misses and no-ops, are counted in
    :meth:`RecommendationCache.stats`, and a lookup says ``status == "error"`` so the response
    can report that the cache was unavailable.

Examples
--------
>>> cache = MemoryCache(max_entries=100)
>>> cache.get("u1", "home", "k=10")                         # nothing cached yet
>>> miss = cache.lookup("u1", "home", "k=10")
>>> cache.put("u1", "home", "k=10", b"[...]", ttl_seconds=60, stamp=miss.stamp)
>>> cache.get("u1", "home", "k=10")
b'[...]'
>>> cache.invalidate_user("u1")                             # the user's next event
>>> cache.lookup("u1", "home", "k=10").status
<CacheStatus.MISS: 'miss'>
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

from tastemaker.config import Settings

Stamp = int | bytes
"""The generations an entry was computed under; opaque to callers."""
Clock = Callable[[], float]


class CacheStatus(StrEnum):
    """What a lookup found."""

    HIT = "hit"
    MISS = "miss"
    ERROR = "error"
    """The backend failed or is being left alone after a failure: treated as a miss."""


class Lookup(NamedTuple):
    """The result of :meth:`RecommendationCache.lookup`.

    ``stamp`` is what to pass to :meth:`RecommendationCache.put` after computing the value of a
    miss (``None`` when the backend is unavailable).
    """

    value: bytes | None
    status: CacheStatus
    stamp: Stamp | None


@dataclass(frozen=True, slots=True)
class CacheStats:
    """Counters since the cache was opened.

    ``errors`` counts operations that failed or were skipped because the backend was failing;
    ``entries`` is ``None`` when the backend cannot tell cheaply (Redis).
    """

    backend: str
    hits: int
    misses: int
    errors: int
    puts: int
    invalidations: int
    entries: int | None
    available: bool
    last_error: str | None


class RecommendationCache(ABC):
    """The role: rendered responses per user, placement and variant, with a TTL each.

    Subclasses implement :meth:`lookup`, :meth:`_put`, :meth:`invalidate_users` and
    :meth:`invalidate_all`; counting and TTL bounds live here once.

    Parameters
    ----------
    max_ttl_seconds
        Upper bound of every TTL.
    """

    backend = "abstract"

    def __init__(self, max_ttl_seconds: float = 3600.0) -> None:
        self.max_ttl_seconds = max_ttl_seconds
        self._count_lock = threading.Lock()
        self._hits = self._misses = self._errors = self._puts = self._invalidations = 0
        self._last_error: str | None = None

    @abstractmethod
    def lookup(self, user_key: str, placement: str, variant: str) -> Lookup:
        """The cached value (if any, fresh and not invalidated), its status and the stamp to
        put a computed value with."""

    def get(self, user_key: str, placement: str, variant: str) -> bytes | None:
        """The cached value, or ``None`` (missing, expired, invalidated or backend failing)."""
        return self.lookup(user_key, placement, variant).value

    def put(
        self,
        user_key: str,
        placement: str,
        variant: str,
        value: bytes,
        ttl_seconds: float,
        stamp: Stamp | None = None,
    ) -> None:
        """Cache ``value`` for ``ttl_seconds`` (at most ``max_ttl_seconds``).

        ``stamp`` is the :attr:`Lookup.stamp` of the miss the value was computed after; without
        it the current generations are used (one more Redis read), so an invalidation that
        happened during the computation goes unnoticed.
        """
        if ttl_seconds <= 0:
            return
        self._put(
            user_key, placement, variant, value, min(ttl_seconds, self.max_ttl_seconds), stamp
        )

    @abstractmethod
    def _put(
        self,
        user_key: str,
        placement: str,
        variant: str,
        value: bytes,
        ttl_seconds: float,
        stamp: Stamp | None,
    ) -> None: ...

    def invalidate_user(self, user_key: str) -> None:
        """Drop every cached placement and variant of one user."""
        self.invalidate_users((user_key,))

    @abstractmethod
    def invalidate_users(self, user_keys: Iterable[str]) -> None:
        """Drop everything cached for these users: one step (one Redis round trip) for all."""

    @abstractmethod
    def invalidate_all(self) -> None:
        """Drop every entry (a new model version, an edited placement)."""

    @property
    def available(self) -> bool:
        """``False`` while the backend is failing."""
        return True

    def entries(self) -> int | None:
        """Entries held (stale ones included), when the backend can tell cheaply."""
        return None

    def stats(self) -> CacheStats:
        """The counters, the entries held and whether the backend works."""
        with self._count_lock:
            return CacheStats(
                backend=self.backend,
                hits=self._hits,
                misses=self._misses,
                errors=self._errors,
                puts=self._puts,
                invalidations=self._invalidations,
                entries=self.entries(),
                available=self.available,
                last_error=self._last_error,
            )

    def close(self) -> None:  # noqa: B027 - most backends hold nothing to release
        """Release connections."""

    def _count(self, status: CacheStatus) -> None:
        with self._count_lock:
            if status is CacheStatus.HIT:
                self._hits += 1
            elif status is CacheStatus.MISS:
                self._misses += 1
            else:
                self._errors += 1

    def _counted(self, puts: int = 0, invalidations: int = 0) -> None:
        with self._count_lock:
            self._puts += puts
            self._invalidations += invalidations

    def _failed(self, error: Exception | None) -> None:
        with self._count_lock:
            self._errors += 1
            if error is not None:
                self._last_error = f"{error.__class__.__name__}: {error}"


class MemoryCache(RecommendationCache):
    """An in-process, thread-safe cache: least recently used entries go past ``max_entries``.

    Generations are one sequence number: each invalidation advances it; an entry is fresh while
    its stamp is not below its user's last invalidation nor the global floor. The users'
    invalidation numbers are bounded too (``max_tracked_users``): forgetting the oldest raises
    the floor to their number, which only makes older entries stale, never a stale one fresh.

    Parameters
    ----------
    max_entries
        Entries kept at most.
    max_ttl_seconds
        Upper bound of every TTL.
    clock
        Monotonic seconds (tests inject their own).
    max_tracked_users
        Users whose last invalidation is remembered; ``4 × max_entries`` (at least 1,024) by
        default.

    Examples
    --------
    >>> now = [0.0]
    >>> cache = MemoryCache(max_entries=2, clock=lambda: now[0])
    >>> cache.put("u1", "home", "", b"a", ttl_seconds=10)
    >>> now[0] = 10.0
    >>> cache.get("u1", "home", "") is None                     # expired
    True
    """

    backend = "memory"

    def __init__(
        self,
        max_entries: int = 100_000,
        *,
        max_ttl_seconds: float = 3600.0,
        clock: Clock = time.monotonic,
        max_tracked_users: int | None = None,
    ) -> None:
        super().__init__(max_ttl_seconds)
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        # key → (expires at, stamp, value)
        self._entries: OrderedDict[tuple[str, str, str], tuple[float, int, bytes]] = OrderedDict()
        self._seq = 0
        self._floor = 0
        self._invalidated: OrderedDict[str, int] = OrderedDict()
        self._max_users = max_tracked_users or max(4 * max_entries, 1024)

    def lookup(self, user_key: str, placement: str, variant: str) -> Lookup:
        key = (user_key, placement, variant)
        now = self._clock()
        with self._lock:
            stamp = self._seq
            entry = self._entries.get(key)
            if entry is not None:
                expires, entry_stamp, value = entry
                if expires > now and self._fresh(user_key, entry_stamp):
                    self._entries.move_to_end(key)
                    self._count(CacheStatus.HIT)
                    return Lookup(value, CacheStatus.HIT, stamp)
                del self._entries[key]
        self._count(CacheStatus.MISS)
        return Lookup(None, CacheStatus.MISS, stamp)

    def _fresh(self, user_key: str, stamp: int) -> bool:
        return stamp >= self._floor and stamp >= self._invalidated.get(user_key, 0)

    def _put(
        self,
        user_key: str,
        placement: str,
        variant: str,
        value: bytes,
        ttl_seconds: float,
        stamp: Stamp | None,
    ) -> None:
        if isinstance(stamp, bytes):
            raise TypeError("a stamp from another cache backend")
        expires = self._clock() + ttl_seconds
        key = (user_key, placement, variant)
        with self._lock:
            at = self._seq if stamp is None else stamp
            if not self._fresh(user_key, at):
                return  # invalidated while it was computed
            self._entries[key] = (expires, at, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        self._counted(puts=1)

    def invalidate_users(self, user_keys: Iterable[str]) -> None:
        with self._lock:
            self._seq += 1
            seq = self._seq
            invalidated = self._invalidated
            count = 0
            for user_key in user_keys:
                invalidated[user_key] = seq
                invalidated.move_to_end(user_key)
                count += 1
            while len(invalidated) > self._max_users:
                _, forgotten = invalidated.popitem(last=False)
                self._floor = max(self._floor, forgotten)
        self._counted(invalidations=count)

    def invalidate_all(self) -> None:
        with self._lock:
            self._seq += 1
            self._floor = self._seq
            self._invalidated.clear()
        self._counted(invalidations=1)

    def entries(self) -> int:
        return len(self._entries)


def invalidate_user_ids(
    cache: RecommendationCache, user_ids: Iterable[str], user_key: Callable[[str], str]
) -> int:
    """Invalidate the users of a batch of events in one step; returns how many there were.

    ``user_key`` maps an external id to the user key (``ProfileUpdater.user_key`` caches the
    HMAC); each distinct id is mapped once.

    Examples
    --------
    >>> cache = MemoryCache(10)
    >>> cache.put("key-a", "home", "", b"x", 60)
    >>> invalidate_user_ids(cache, ["a", "b", "a"], lambda user_id: "key-" + user_id)
    2
    >>> cache.get("key-a", "home", "") is None
    True
    """
    keys = {user_key(u) for u in set(user_ids)}
    cache.invalidate_users(keys)
    return len(keys)


def open_cache(settings: Settings) -> RecommendationCache:
    """The cache the settings name: Redis when ``redis_url`` is set, else in process.

    Opening connects to nothing; a Redis that is down shows as errors on use.

    Examples
    --------
    >>> open_cache(Settings(database_url="sqlite://")).backend
    'memory'
    """
    config = settings.cache
    if settings.redis_url is None:
        return MemoryCache(config.max_entries, max_ttl_seconds=config.max_ttl_seconds)
    from tastemaker.serving.cache_redis import RedisCache

    return RedisCache(
        settings.redis_url,
        key_prefix=config.key_prefix,
        socket_timeout_ms=config.socket_timeout_ms,
        max_ttl_seconds=config.max_ttl_seconds,
        retry_seconds=config.retry_seconds,
    )
