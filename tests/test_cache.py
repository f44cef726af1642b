"""The recommendation cache: one contract for the in-process cache and for the real Redis."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest
import redis
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tastemaker.config import Settings
from tastemaker.serving.cache import (
    CacheStatus,
    MemoryCache,
    RecommendationCache,
    open_cache,
)
from tastemaker.serving.cache_redis import RedisCache
from tests.backends import redis_namespace
from tests.live import free_port


class FakeClock:
    """Monotonic seconds that move only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Backend:
    """Opens caches on one backend (several of them act as replicas sharing it)."""

    open: Callable[[], RecommendationCache]
    wait: Callable[[float], None]
    """Let ``seconds`` pass for the cache (a fake clock in memory, real time in Redis)."""
    caches: list[RecommendationCache] = field(default_factory=list)

    def cache(self) -> RecommendationCache:
        c = self.open()
        self.caches.append(c)
        return c


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    if request.param == "memory":
        clock = FakeClock()

        def advance(seconds: float) -> None:
            clock.now += seconds

        yield Backend(lambda: MemoryCache(1000, clock=clock), advance)
        return
    with redis_namespace() as (url, prefix):
        b = Backend(lambda: RedisCache(url, key_prefix=prefix, socket_timeout_ms=2000), time.sleep)
        yield b
        for c in b.caches:
            c.close()


@pytest.fixture
def cache(backend: Backend) -> RecommendationCache:
    return backend.cache()


def test_miss_then_hit(cache: RecommendationCache) -> None:
    first = cache.lookup("u1", "home", "k=10")
    assert first.status is CacheStatus.MISS
    assert first.value is None
    cache.put("u1", "home", "k=10", b'{"items": []}', 60, stamp=first.stamp)
    hit = cache.lookup("u1", "home", "k=10")
    assert hit.status is CacheStatus.HIT
    assert hit.value == b'{"items": []}'
    assert cache.get("u1", "home", "k=10") == b'{"items": []}'
    cache.put("u1", "home", "k=10", b"new", 60)
    assert cache.get("u1", "home", "k=10") == b"new"
    stats = cache.stats()
    assert (stats.hits, stats.misses, stats.puts, stats.errors) == (3, 1, 2, 0)
    assert stats.available


def test_placements_variants_and_users_are_separate(cache: RecommendationCache) -> None:
    cache.put("u1", "home", "k=10", b"a", 60)
    assert cache.get("u1", "home", "k=5") is None
    assert cache.get("u1", "article", "k=10") is None
    assert cache.get("u2", "home", "k=10") is None
    # Separators inside the parts cannot make two addresses collide.
    cache.put("u1", "a:b", "c", b"first", 60)
    cache.put("u1", "a", "b:c", b"second", 60)
    assert cache.get("u1", "a:b", "c") == b"first"
    assert cache.get("u1", "a", "b:c") == b"second"


def test_binary_values_round_trip(cache: RecommendationCache) -> None:
    value = bytes(range(256)) + b"\n\n.\x00"
    cache.put("u1", "home", "", value, 60)
    assert cache.get("u1", "home", "") == value


def test_entries_expire_after_their_ttl(backend: Backend, cache: RecommendationCache) -> None:
    cache.put("u1", "home", "", b"short", 0.05)
    cache.put("u1", "email", "", b"long", 600)
    backend.wait(0.3)
    assert cache.get("u1", "home", "") is None
    assert cache.get("u1", "email", "") == b"long"


def test_no_ttl_caches_nothing(cache: RecommendationCache) -> None:
    cache.put("u1", "home", "", b"x", 0)
    assert cache.get("u1", "home", "") is None


def test_invalidate_user_drops_only_that_user(cache: RecommendationCache) -> None:
    for user in ("u1", "u2"):
        for placement in ("home", "article"):
            cache.put(user, placement, "k=10", f"{user}/{placement}".encode(), 60)
    cache.invalidate_user("u1")
    assert cache.get("u1", "home", "k=10") is None
    assert cache.get("u1", "article", "k=10") is None
    assert cache.get("u2", "home", "k=10") == b"u2/home"
    assert cache.get("u2", "article", "k=10") == b"u2/article"
    # The user's next lists are cached again.
    cache.put("u1", "home", "k=10", b"fresh", 60)
    assert cache.get("u1", "home", "k=10") == b"fresh"


def test_invalidate_users_in_one_call(cache: RecommendationCache) -> None:
    users = ("u1", "u2", 'ü3 "quoted"')
    for user in users:
        cache.put(user, "home", "", b"x", 60)
    cache.invalidate_users(["u1", users[2], "u1"])
    assert [cache.get(u, "home", "") for u in users] == [None, b"x", None]
    assert cache.stats().invalidations == 3
    cache.invalidate_users([])
    assert cache.get("u2", "home", "") == b"x"


def test_invalidate_all(cache: RecommendationCache) -> None:
    cache.put("u1", "home", "", b"1", 60)
    cache.put("u2", "article", "x", b"2", 60)
    cache.invalidate_all()
    assert cache.get("u1", "home", "") is None
    assert cache.get("u2", "article", "x") is None
    cache.put("u1", "home", "", b"again", 60)
    assert cache.get("u1", "home", "") == b"again"


def test_a_list_computed_across_an_invalidation_is_not_served(
    cache: RecommendationCache,
) -> None:
    """lookup (miss) → the user's event invalidates → put with the miss's stamp: that list was
    computed from the old profile and must not be served."""
    miss = cache.lookup("u1", "home", "")
    cache.invalidate_user("u1")
    cache.put("u1", "home", "", b"from the old profile", 60, stamp=miss.stamp)
    assert cache.get("u1", "home", "") is None
    other = cache.lookup("u2", "home", "")
    cache.invalidate_all()
    cache.put("u2", "home", "", b"from the old model", 60, stamp=other.stamp)
    assert cache.get("u2", "home", "") is None


def test_ttl_is_bounded_by_max_ttl() -> None:
    clock = FakeClock()
    cache = MemoryCache(10, max_ttl_seconds=30, clock=clock)
    cache.put("u1", "home", "", b"x", 10_000)
    clock.now += 29.9
    assert cache.get("u1", "home", "") == b"x"
    clock.now += 0.1
    assert cache.get("u1", "home", "") is None


def test_memory_cache_forgets_least_recently_used() -> None:
    cache = MemoryCache(2)
    cache.put("u1", "home", "", b"1", 60)
    cache.put("u2", "home", "", b"2", 60)
    assert cache.get("u1", "home", "") == b"1"  # u1 is now the most recently used
    cache.put("u3", "home", "", b"3", 60)
    assert cache.get("u2", "home", "") is None
    assert cache.get("u1", "home", "") == b"1"
    assert cache.stats().entries == 2


def test_open_cache_follows_the_settings() -> None:
    s = Settings(database_url="sqlite://", cache={"max_entries": 7})
    memory = open_cache(s)
    assert isinstance(memory, MemoryCache)
    assert memory.max_entries == 7
    remote = open_cache(s.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"}))
    assert isinstance(remote, RedisCache)
    remote.close()


# ---------------------------------------------------------------------------------------------
# Invariants of the in-process cache

_users = st.sampled_from(["u1", "u2", "u3"])
_placements = st.sampled_from(["home", "article"])
_put = st.tuples(st.just("put"), _users, _placements, st.sampled_from([1.0, 5.0, 50.0]))
_get = st.tuples(st.just("get"), _users, _placements)
_invalidate = st.tuples(st.just("invalidate"), _users)
# Repeated strategies weigh the draw: a frequent invalidate_all would hide every other path.
_ops = st.one_of(
    *[_put] * 3,
    *[_get] * 4,
    *[_invalidate] * 3,
    st.tuples(st.just("wait"), st.sampled_from([0.5, 2.0, 10.0])),
    st.tuples(st.just("invalidate_all")),
)


@settings(max_examples=300, deadline=None)
@example(  # a user's invalidation forgotten (max_tracked_users) must not revive the entry
    max_entries=5,
    max_tracked_users=1,
    ops=[
        ("put", "u1", "home", 50.0),
        ("invalidate", "u1"),
        ("invalidate", "u2"),
        ("get", "u1", "home"),
    ],
)
@given(
    max_entries=st.integers(1, 5),
    max_tracked_users=st.integers(1, 2),
    ops=st.lists(_ops, min_size=8, max_size=80),
)
def test_memory_cache_invariants(
    max_entries: int, max_tracked_users: int, ops: list[tuple[object, ...]]
) -> None:
    """Never more than ``max_entries``; a get right after a put returns the value; a value is
    only ever returned if it is the latest put, not expired and not invalidated since."""
    clock = FakeClock()
    cache = MemoryCache(max_entries, clock=clock, max_tracked_users=max_tracked_users)
    valid: dict[tuple[str, str], tuple[bytes, float]] = {}  # what may still be served
    for n, op in enumerate(ops):
        match op:
            case ("put", str(user), str(placement), float(ttl)):
                value = f"{n}".encode()
                cache.put(user, placement, "", value, ttl)
                valid[user, placement] = (value, clock.now + ttl)
                assert cache.get(user, placement, "") == value
            case ("get", str(user), str(placement)):
                got = cache.get(user, placement, "")
                if got is not None:
                    value, expires = valid[user, placement]
                    assert got == value
                    assert clock.now < expires
            case ("wait", float(seconds)):
                clock.now += seconds
            case ("invalidate", str(user)):
                cache.invalidate_user(user)
                valid = {k: v for k, v in valid.items() if k[0] != user}
            case ("invalidate_all",):
                cache.invalidate_all()
                valid.clear()
        assert cache.entries() <= max_entries


def test_forgotten_invalidations_never_revive_stale_entries() -> None:
    cache = MemoryCache(10, max_tracked_users=2)
    cache.put("u1", "home", "", b"old", 60)
    cache.put("u4", "home", "", b"kept", 60)
    cache.invalidate_user("u1")
    cache.invalidate_users(["u2", "u3"])  # u1's invalidation is forgotten
    assert cache.get("u1", "home", "") is None
    cache.put("u1", "home", "", b"new", 60)
    assert cache.get("u1", "home", "") == b"new"


# ---------------------------------------------------------------------------------------------
# Redis: replicas, namespaces, failures


@pytest.fixture
def replicas() -> Iterator[tuple[RedisCache, RedisCache]]:
    """Two API replicas' caches on the same Redis."""
    with redis_namespace() as (url, prefix):
        a, b = RedisCache(url, key_prefix=prefix), RedisCache(url, key_prefix=prefix)
        yield a, b
        a.close()
        b.close()


@pytest.mark.redis
def test_two_replicas_share_entries_and_invalidations(
    replicas: tuple[RedisCache, RedisCache],
) -> None:
    a, b = replicas
    a.put("u1", "home", "", b"from a", 60)
    b.put("u2", "home", "", b"from b", 60)
    assert b.get("u1", "home", "") == b"from a"
    a.invalidate_user("u2")  # replica a ingested u2's event
    assert b.get("u2", "home", "") is None
    assert b.get("u1", "home", "") == b"from a"
    b.invalidate_all()  # replica b loaded a new model
    assert a.get("u1", "home", "") is None


@pytest.mark.redis
def test_prefixes_keep_deployments_apart() -> None:
    with redis_namespace() as (url, one), redis_namespace() as (_, two):
        first, second = RedisCache(url, key_prefix=one), RedisCache(url, key_prefix=two)
        first.put("u1", "home", "", b"one", 60)
        assert second.get("u1", "home", "") is None
        second.invalidate_all()
        assert first.get("u1", "home", "") == b"one"
        first.close()
        second.close()


@pytest.mark.redis
def test_redis_keys_expire() -> None:
    """Entries carry their TTL and users' generations expire too: Redis does not fill up."""
    with redis_namespace() as (url, prefix):
        cache = RedisCache(url, key_prefix=prefix, max_ttl_seconds=100)
        cache.put("u1", "home", "", b"x", 30)
        cache.invalidate_user("u2")
        raw = redis.Redis.from_url(url)
        keys = list(raw.scan_iter(match=prefix + "*"))
        assert len(keys) == 2
        ttls = {k: raw.pttl(k) for k in keys}
        assert 0 < ttls[f"{prefix}u:u2".encode()] <= 200_000
        assert all(0 < t <= 200_000 for t in ttls.values())
        raw.close()
        cache.close()


def test_redis_down_means_misses_never_exceptions() -> None:
    clock = FakeClock()
    cache = RedisCache(f"redis://127.0.0.1:{free_port()}/0", retry_seconds=5, clock=clock)
    lookup = cache.lookup("u1", "home", "")
    assert lookup.status is CacheStatus.ERROR
    assert lookup.value is None
    assert cache.get("u1", "home", "") is None
    cache.put("u1", "home", "", b"x", 60, stamp=lookup.stamp)
    cache.invalidate_user("u1")
    cache.invalidate_all()
    stats = cache.stats()
    assert stats.errors == 5
    assert not stats.available
    assert stats.last_error is not None
    assert "ConnectionError" in stats.last_error
    assert (stats.hits, stats.misses, stats.puts) == (0, 0, 0)
    clock.now += 5  # after the retry delay Redis is tried again (and fails again)
    assert cache.lookup("u1", "home", "").status is CacheStatus.ERROR
    assert cache.stats().errors == 6
    cache.close()


class CuttableLink:
    """A TCP relay to the real Redis whose connections can be cut and restored."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.up = True
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.up:
                client.close()
                continue
            upstream = socket.create_connection(self.target)
            self.sockets += [client, upstream]
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                s.close()

    def cut(self) -> None:
        self.up = False
        for s in self.sockets:
            s.close()
        self.sockets.clear()

    def close(self) -> None:
        self.cut()
        self.listener.close()


@pytest.mark.redis
def test_an_invalidation_lost_in_an_outage_is_made_good() -> None:
    """Replica a loses its link to Redis while it ingests u1's event; once the link is back, its
    first call invalidates everything, so replica b stops serving u1's old list."""
    with redis_namespace() as (url, prefix):
        parsed = urlsplit(url)
        link = CuttableLink(parsed.hostname or "127.0.0.1", parsed.port or 6379)
        clock = FakeClock()
        relayed = parsed._replace(netloc=f"127.0.0.1:{link.port}").geturl()
        a = RedisCache(relayed, key_prefix=prefix, clock=clock)
        b = RedisCache(url, key_prefix=prefix)
        b.put("u1", "home", "", b"old", 60)
        assert a.get("u1", "home", "") == b"old"
        link.cut()
        a.invalidate_user("u1")  # lost
        assert not a.available
        assert b.get("u1", "home", "") == b"old"  # b cannot know yet
        link.up = True
        clock.now += 1.0
        assert a.get("u2", "home", "") is None  # a's first call since the outage
        assert a.available
        assert b.get("u1", "home", "") is None
        a.close()
        b.close()
        link.close()
