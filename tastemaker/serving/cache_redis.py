"""The recommendation cache in Redis, shared by every API replica.

Layout (``p`` is ``CacheSettings.key_prefix``)
    ``p + "all"``
        The global generation: a random token, replaced by :meth:`RedisCache.invalidate_all`.
    ``p + "u:" + user_key``
        A user's generation: a random token, replaced by every invalidation of the user. It
        expires after ``2 × max_ttl_seconds``: by then every entry stamped before it has expired
        too, so the key's absence cannot bring one back.
    ``p + "e:" + …``
        An entry: ``<global token>.<user token>\\n<value>``, with a ``PX`` TTL.

A lookup reads the two generations and the entry with one ``MGET`` and returns the entry only
if its stamp is the current one; invalidating a batch of users is one call of a small Lua script
that receives the user keys as one JSON argument (one round trip, and little to encode: a
pipeline of 1,000 ``SET`` costs the API process several milliseconds of CPU). The script builds
its keys itself, which Redis Cluster forbids: a single Redis (with replicas or Sentinel) is
supported, a cluster is not.

Failures
    Any Redis error (refused, timed out, read-only replica …) is caught, counted and turned into
    a miss or a no-op. Redis is then left alone for ``retry_seconds`` (each request would
    otherwise wait for the socket timeout), and an invalidation lost meanwhile is made good by
    invalidating everything at the first successful call afterwards: a user's event during an
    outage never leaves a stale list cached. An entry another process cached for the user is
    only at risk if this process stops before Redis is back; its TTL bounds that.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable
from enum import Enum
from typing import Literal, TypeVar

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from tastemaker.serving.cache import CacheStatus, Clock, Lookup, RecommendationCache, Stamp

T = TypeVar("T")


class _Failed(Enum):
    FAILED = "failed"


_FAILED: Literal[_Failed.FAILED] = _Failed.FAILED


_INVALIDATE_USERS = """
local users = cjson.decode(ARGV[3])
for i = 1, #users do
    redis.call('SET', ARGV[4] .. users[i], ARGV[1], 'PX', ARGV[2])
end
return #users
"""


def _token() -> bytes:
    return os.urandom(8).hex().encode()


class RedisCache(RecommendationCache):
    """The cache in the Redis at ``url``, its keys under ``key_prefix``.

    Parameters
    ----------
    url
        ``redis://host:port/db`` (``rediss://`` for TLS).
    key_prefix
        Namespace of every key, so several deployments can share one Redis.
    socket_timeout_ms
        Connect and read timeout; past it the call is a miss.
    max_ttl_seconds
        Upper bound of every TTL.
    retry_seconds
        How long Redis is left alone after an error.
    clock
        Monotonic seconds, for the retry delay.
    """

    backend = "redis"

    def __init__(
        self,
        url: str,
        *,
        key_prefix: str = "tm:cache:",
        socket_timeout_ms: float = 50.0,
        max_ttl_seconds: float = 3600.0,
        retry_seconds: float = 1.0,
        clock: Clock = time.monotonic,
    ) -> None:
        super().__init__(max_ttl_seconds)
        timeout = socket_timeout_ms / 1000.0
        self._client = redis.Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),  # a cache miss is cheaper than a retried call
        )
        self.key_prefix = key_prefix
        self.retry_seconds = retry_seconds
        self._clock = clock
        self._all_key = (key_prefix + "all").encode()
        self._user_ttl_ms = max(1, round(2000 * max_ttl_seconds))
        self._invalidate_users = self._client.register_script(_INVALIDATE_USERS)
        self._failing = False
        self._retry_at = 0.0
        self._lost_invalidation = False

    # ---------------------------------------------------------------------------------------
    # Keys

    def _user_key(self, user_key: str) -> bytes:
        return f"{self.key_prefix}u:{user_key}".encode()  # as _INVALIDATE_USERS builds it

    def _entry_key(self, user_key: str, placement: str, variant: str) -> bytes:
        # Lengths keep ("a:b", "c") and ("a", "b:c") apart.
        return (
            f"{self.key_prefix}e:{len(user_key)}:{user_key}:{len(placement)}:{placement}:{variant}"
        ).encode()

    # ---------------------------------------------------------------------------------------
    # The role

    def lookup(self, user_key: str, placement: str, variant: str) -> Lookup:
        keys = (
            self._all_key,
            self._user_key(user_key),
            self._entry_key(user_key, placement, variant),
        )
        found = self._call(lambda r: r.mget(keys))
        if found is _FAILED:
            return Lookup(None, CacheStatus.ERROR, None)
        glob, user, entry = found
        stamp = _stamp(glob, user)
        if isinstance(entry, bytes):
            head, _, value = entry.partition(b"\n")
            if head == stamp:
                self._count(CacheStatus.HIT)
                return Lookup(value, CacheStatus.HIT, stamp)
        self._count(CacheStatus.MISS)
        return Lookup(None, CacheStatus.MISS, stamp)

    def _put(
        self,
        user_key: str,
        placement: str,
        variant: str,
        value: bytes,
        ttl_seconds: float,
        stamp: Stamp | None,
    ) -> None:
        if isinstance(stamp, int):
            raise TypeError("a stamp from another cache backend")
        key = self._entry_key(user_key, placement, variant)
        ttl_ms = max(1, round(ttl_seconds * 1000))

        def put(r: redis.Redis) -> None:
            at = stamp
            if at is None:
                glob, user = r.mget((self._all_key, self._user_key(user_key)))
                at = _stamp(glob, user)
            r.set(key, at + b"\n" + value, px=ttl_ms)

        if self._call(put) is not _FAILED:
            self._counted(puts=1)

    def invalidate_users(self, user_keys: Iterable[str]) -> None:
        users = list(user_keys)
        if not users:
            return
        args = (_token(), self._user_ttl_ms, json.dumps(users), f"{self.key_prefix}u:")

        def invalidate(r: redis.Redis) -> None:
            self._invalidate_users(args=args, client=r)

        if self._call(invalidate) is _FAILED:
            self._lost_invalidation = True
        else:
            self._counted(invalidations=len(users))

    def invalidate_all(self) -> None:
        if self._call(lambda r: r.set(self._all_key, _token())) is _FAILED:
            self._lost_invalidation = True
        else:
            self._counted(invalidations=1)

    @property
    def available(self) -> bool:
        return not self._failing

    def close(self) -> None:
        self._client.close()

    def delete_namespace(self) -> int:
        """Delete every key under the prefix (a scan: for maintenance and tests, not requests).

        Raises Redis's errors, unlike the cache operations.
        """
        deleted = 0
        for batch in _chunks(self._client.scan_iter(match=self.key_prefix + "*", count=1000)):
            deleted += int(self._client.unlink(*batch))
        return deleted

    # ---------------------------------------------------------------------------------------
    # Failures

    def _call(self, operation: Callable[[redis.Redis], T]) -> T | _Failed:
        """``operation(client)``, or ``_FAILED`` if Redis failed or is being left alone."""
        if self._failing and self._clock() < self._retry_at:
            self._failed(None)
            return _FAILED
        try:
            if self._lost_invalidation:
                self._client.set(self._all_key, _token())
                self._lost_invalidation = False
            result = operation(self._client)
        except (redis.RedisError, OSError) as exc:
            self._retry_at = self._clock() + self.retry_seconds
            self._failing = True
            self._failed(exc)
            return _FAILED
        self._invalidate_users = self._client.register_script(_INVALIDATE_USERS)
        self._failing = False
        return result


def _stamp(glob: bytes | str | None, user: bytes | str | None) -> bytes:
    """The stamp of the current generations (the client returns bytes: no decoding is set)."""
    g = glob if isinstance(glob, bytes) else b""
    u = user if isinstance(user, bytes) else b""
    return g + b"." + u


def _chunks(keys: Iterable[bytes], size: int = 500) -> Iterable[list[bytes]]:
    batch: list[bytes] = []
    for key in keys:
        batch.append(key)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
