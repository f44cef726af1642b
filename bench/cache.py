"""Recommendation cache throughput: the in-process cache and the Redis one.

Per backend it measures, on one thread (one connection for Redis, as one API worker thread):

* ``lookup`` hits and misses, ``put`` (with the stamp of the miss, as the read path does);
* ``invalidate_user``;
* the invalidation of a 1,000-event batch as ingestion does it (``invalidate_user_ids``: ids
  deduplicated, user keys from a cache like ``ProfileUpdater.user_key``'s), for 1,000 distinct
  users and for 100 users with 10 events each.

As peer figures from the same run: a bare ``GET`` through redis-py on the same connection
settings (the client's own cost), and ``redis-benchmark -t get`` with 1 client (latency-bound,
comparable with ours) and with 50 clients (what the server can do), if ``redis-benchmark`` is on
PATH; otherwise the output says so.

Run from the repository root::

    .venv/bin/python bench/cache.py [--redis-url redis://127.0.0.1:6379/15] [--ops 20000]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable
from urllib.parse import urlsplit

import redis
from rich.console import Console
from rich.table import Table

from tastemaker.serving.cache import MemoryCache, RecommendationCache, invalidate_user_ids
from tastemaker.serving.cache_redis import RedisCache

VALUE = (
    b'{"recommendation_id": "r", "items": [' + b'{"id": "item-0000", "score": 0.5},' * 20 + b"]}"
)


def rate(n: int, run: Callable[[int], object]) -> tuple[float, float]:
    """Operations per second and µs per operation of ``run(i)`` for i < n."""
    started = time.perf_counter()
    for i in range(n):
        run(i)
    elapsed = time.perf_counter() - started
    return n / elapsed, elapsed / n * 1e6


def measure(cache: RecommendationCache, n: int) -> list[tuple[str, float, float]]:
    rows: list[tuple[str, float, float]] = []
    users = [f"{i:064x}" for i in range(n)]
    stamps: list[object] = [None] * n

    def miss(i: int) -> None:
        stamps[i] = cache.lookup(users[i], "homepage", "k=10").stamp

    def put(i: int) -> None:
        stamp = stamps[i]
        assert stamp is None or isinstance(stamp, int | bytes)
        cache.put(users[i], "homepage", "k=10", VALUE, 60, stamp=stamp)

    def hit(i: int) -> None:
        assert cache.lookup(users[i], "homepage", "k=10").value is not None

    rows.append(("lookup, miss", *rate(n, miss)))
    rows.append((f"put ({len(VALUE)} bytes)", *rate(n, put)))
    rows.append(("lookup, hit", *rate(n, hit)))
    rows.append(("invalidate_user", *rate(n, lambda i: cache.invalidate_user(users[i]))))

    keys = {f"user-{i}": f"{i:064x}" for i in range(1000)}  # ProfileUpdater.user_key's cache
    user_key = keys.__getitem__
    distinct = [f"user-{i}" for i in range(1000)]
    repeated = [f"user-{i % 100}" for i in range(1000)]
    batches = max(10, n // 1000)

    def batch(ids: list[str]) -> Callable[[int], int]:
        return lambda _: invalidate_user_ids(cache, ids, user_key)

    for label, ids in (("1,000 users", distinct), ("100 users × 10", repeated)):
        rows.append((f"1,000-event batch ({label})", *rate(batches, batch(ids))))
    stats = cache.stats()
    assert stats.errors == 0, stats.last_error
    return rows


def bare_get(url: str, n: int) -> tuple[float, float]:
    client = redis.Redis.from_url(url)
    client.set("tm:bench:peer", VALUE, px=60_000)
    result = rate(n, lambda _: client.get("tm:bench:peer"))
    client.delete("tm:bench:peer")
    client.close()
    return result


def redis_benchmark(url: str, clients: int, n: int) -> str:
    exe = shutil.which("redis-benchmark")
    if exe is None:
        return "redis-benchmark is not on PATH: no peer figure"
    parts = urlsplit(url)
    db = (parts.path or "/0").lstrip("/") or "0"
    command = [exe, "-h", parts.hostname or "127.0.0.1", "-p", str(parts.port or 6379)]
    command += ["--dbnum", db, "-t", "get", "-n", str(n), "-c", str(clients), "--csv"]
    out = subprocess.run(command, capture_output=True, text=True, timeout=300, check=True).stdout
    # "test","rps","avg_latency_ms",…  then  "GET","52910.05","0.021",…
    header, row = (line.replace('"', "").split(",") for line in out.strip().splitlines()[-2:])
    fields = dict(zip(header, row, strict=False))
    return f"{float(fields['rps']):,.0f} GET/s, {1000 * float(fields['avg_latency_ms']):.0f} µs avg"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/15")
    parser.add_argument("--ops", type=int, default=20_000, help="operations per Redis case")
    parser.add_argument("--memory-ops", type=int, default=200_000)
    args = parser.parse_args()
    console = Console()

    table = Table(title="Recommendation cache, one thread")
    for column in ("backend", "operation", "ops/s", "µs/op"):
        table.add_column(column, justify="right" if column in ("ops/s", "µs/op") else "left")
    for name, row in (("memory", r) for r in measure(MemoryCache(1_000_000), args.memory_ops)):
        table.add_row(name, row[0], f"{row[1]:,.0f}", f"{row[2]:.1f}")

    prefix = f"tm:bench:{uuid.uuid4().hex[:8]}:"
    cache = RedisCache(args.redis_url, key_prefix=prefix, socket_timeout_ms=1000)
    try:
        for row in measure(cache, args.ops):
            table.add_row("redis", row[0], f"{row[1]:,.0f}", f"{row[2]:.1f}")
        peer = bare_get(args.redis_url, args.ops)
        table.add_row("peer", "redis-py GET, no cache logic", f"{peer[0]:,.0f}", f"{peer[1]:.1f}")
    except redis.RedisError as exc:
        console.print(f"[yellow]Redis at {args.redis_url} failed: {exc}; Redis rows skipped")
    finally:
        cache.delete_namespace()
        cache.close()
    console.print(table)
    for clients in (1, 50):
        try:
            figure = redis_benchmark(args.redis_url, clients, 10 * args.ops)
        except (subprocess.SubprocessError, OSError, ValueError, KeyError) as exc:
            figure = f"failed: {exc}"
        console.print(f"peer: redis-benchmark -t get -c {clients}: {figure}")


if __name__ == "__main__":
    main()
