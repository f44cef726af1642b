"""A small HTTP/1.1 load generator, run as its own process by ``bench/serve.py``.

It reads a JSON spec (a file, or ``-`` for stdin), drives one server over keep-alive
connections and prints one JSON object with the results on stdout. It is meant to be cheap per
request, so that on a 2-core machine it is not what limits the figures: asyncio (uvloop when
installed) and raw sockets; each request's bytes are built once, before the clock starts, and a
response is read as a status line, headers and a ``Content-Length`` body (chunked bodies are
read too; a body delimited only by the end of the connection is an error, since it would cost a
new connection per request).

Two modes:

* ``open``: requests are scheduled at a fixed ``rate`` whatever the server does; a request that
  finds no free connection waits in a queue. Latency is measured from the *scheduled* time, so
  queueing behind a slow server counts (no coordinated omission). Requests still unanswered
  ``grace_seconds`` after the last one was scheduled are reported as ``unanswered``.
* ``closed``: each of ``connections`` sends its next request as soon as the previous one is
  answered, for ``seconds``: the most the server can do at that concurrency.

A *template* is a list of steps (``method``, ``path``, optional JSON-ready ``body`` and an
``expect`` substring of a good response body) sent one after another on the same connection;
its latency is that of the whole sequence. Request ``n`` uses ``templates[n % len(templates)]``.
A sequence whose last response body contains ``marker`` (default ``"cached":true``) is counted
in ``marked``.

Spec keys: ``host``, ``port``, ``mode``, ``templates`` (required); ``rate``, ``seconds``,
``connections``, ``warmup_seconds`` and ``warmup_templates`` (closed-loop, before measuring),
``grace_seconds``, ``marker``, ``cpu_pgid`` (a process group whose CPU time is measured over
the measured window: the server's).

Run by hand::

    echo '{"host": "127.0.0.1", "port": 8000, "mode": "closed", "seconds": 3,
           "templates": [[{"method": "GET", "path": "/healthz"}]]}' | python bench/loadgen.py -
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAX_HEAD = 64 * 1024


class ProtocolError(Exception):
    """The server's answer is not HTTP/1.1 this client can read on a kept-alive connection."""


@dataclass(frozen=True)
class Step:
    """One request, encoded once."""

    raw: bytes
    expect: bytes | None


def encode(host: str, port: int, step: dict[str, Any]) -> Step:
    """The request bytes of one template step."""
    method = str(step.get("method", "GET")).upper()
    path = str(step["path"])
    body = b""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", "Accept: application/json"]
    if step.get("body") is not None:
        body = json.dumps(step["body"], separators=(",", ":")).encode()
        lines.append("Content-Type: application/json")
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    raw = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
    expect = step.get("expect")
    return Step(raw=raw, expect=str(expect).encode() if expect else None)


def parse_head(head: bytes) -> tuple[int, dict[bytes, bytes]]:
    """Status code and lower-cased headers of a response head (ending with a blank line)."""
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
        raise ProtocolError(f"not an HTTP/1.x status line: {lines[0][:80]!r}")
    try:
        status = int(parts[1])
    except ValueError:
        raise ProtocolError(f"bad status code in {lines[0][:80]!r}") from None
    headers: dict[bytes, bytes] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(b":")
        if not sep:
            raise ProtocolError(f"bad header line {line[:80]!r}")
        headers[name.strip().lower()] = value.strip()
    return status, headers


async def read_chunked(reader: asyncio.StreamReader) -> bytes:
    """A ``Transfer-Encoding: chunked`` body, trailers skipped."""
    parts: list[bytes] = []
    while True:
        size_line = await reader.readuntil(b"\r\n")
        try:
            size = int(size_line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise ProtocolError(f"bad chunk size line {size_line[:80]!r}") from None
        if size == 0:
            while await reader.readuntil(b"\r\n") != b"\r\n":
                pass
            return b"".join(parts)
        chunk = await reader.readexactly(size + 2)
        if chunk[-2:] != b"\r\n":
            raise ProtocolError("a chunk does not end with CRLF")
        parts.append(chunk[:-2])


class Connection:
    """One keep-alive HTTP/1.1 connection, reopened after an error or ``Connection: close``."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(
                self.host, self.port, limit=MAX_HEAD
            )
        assert self.reader is not None
        try:
            self.writer.write(raw)
            head = await self.reader.readuntil(b"\r\n\r\n")
            status, headers = parse_head(head)
            if b"chunked" in headers.get(b"transfer-encoding", b"").lower():
                body = await read_chunked(self.reader)
            elif b"content-length" in headers:
                body = await self.reader.readexactly(int(headers[b"content-length"]))
            elif status in (204, 304) or 100 <= status < 200:
                body = b""
            else:
                raise ProtocolError("a response without Content-Length or chunked encoding")
            if headers.get(b"connection", b"").lower() == b"close":
                self.close()
            return status, body
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


@dataclass
class Tally:
    """What one measured phase saw."""

    latencies: list[float] = field(default_factory=list)
    """Seconds, one per answered sequence (open loop: from its scheduled time)."""
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    marked: int = 0
    scheduled: int = 0
    send_lag: list[float] = field(default_factory=list)
    """Open loop: how late the generator itself queued each request (its own slowness)."""
    waited: int = 0
    """Open loop: requests that found every connection busy and had to wait for one."""


async def run_sequence(
    conn: Connection, steps: list[Step], marker: bytes, tally: Tally, start: float
) -> None:
    """Send ``steps`` in order; record the latency from ``start`` or the reason it failed."""
    body = b""
    for step in steps:
        try:
            status, body = await conn.request(step.raw)
        except (OSError, EOFError, asyncio.IncompleteReadError, ProtocolError) as exc:
            tally.errors[type(exc).__name__] += 1
            return
        except asyncio.LimitOverrunError:
            tally.errors["response head too large"] += 1
            return
        tally.statuses[status] += 1
        if not 200 <= status < 300:
            tally.errors[f"HTTP {status}"] += 1
            return
        if step.expect is not None and step.expect not in body:
            tally.errors["unexpected body"] += 1
            return
    tally.latencies.append(time.perf_counter() - start)
    if marker in body:
        tally.marked += 1


async def closed_loop(
    conns: list[Connection], templates: list[list[Step]], seconds: float, marker: bytes
) -> tuple[Tally, float]:
    """Every connection sends its next sequence as soon as one is answered, for ``seconds``."""
    tally = Tally()
    counter = itertools.count()
    begin = time.perf_counter()
    deadline = begin + seconds
    finished: list[float] = []

    async def client(conn: Connection) -> None:
        while (now := time.perf_counter()) < deadline:
            n = next(counter)
            tally.scheduled += 1
            await run_sequence(conn, templates[n % len(templates)], marker, tally, now)
        finished.append(time.perf_counter())

    await asyncio.gather(*(client(c) for c in conns))
    return tally, max(finished) - begin


async def open_loop(
    conns: list[Connection],
    templates: list[list[Step]],
    seconds: float,
    rate: float,
    grace: float,
    marker: bytes,
) -> tuple[Tally, float]:
    """Sequences scheduled every ``1/rate`` s for ``seconds``; late ones wait for a connection."""
    tally = Tally()
    total = max(1, round(seconds * rate))
    queue: asyncio.Queue[tuple[int, float]] = asyncio.Queue()
    free = len(conns)
    done = asyncio.Event()

    async def client(conn: Connection) -> None:
        nonlocal free
        while True:
            n, scheduled = await queue.get()
            free -= 1
            await run_sequence(conn, templates[n % len(templates)], marker, tally, scheduled)
            free += 1
            if len(tally.latencies) + sum(tally.errors.values()) >= total:
                done.set()

    tasks = [asyncio.create_task(client(c)) for c in conns]
    begin = time.perf_counter() + 0.01
    for n in range(total):
        scheduled = begin + n / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tally.send_lag.append(max(0.0, time.perf_counter() - scheduled))
        if free <= queue.qsize():
            tally.waited += 1
        tally.scheduled += 1
        queue.put_nowait((n, scheduled))
    last = begin + (total - 1) / rate
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(done.wait(), timeout=max(0.0, last + grace - time.perf_counter()))
    elapsed = time.perf_counter() - begin
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return tally, elapsed


def group_cpu(pgid: int) -> float:
    """User plus system CPU seconds of every live process in a process group (Linux)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12])
    return total / tick


def percentile(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    host, port = str(spec["host"]), int(spec["port"])
    mode = spec["mode"]
    if mode not in ("open", "closed"):
        raise SystemExit(f"mode must be open or closed, not {mode!r}")
    marker = str(spec.get("marker", '"cached":true')).encode()
    seconds = float(spec.get("seconds", 10))
    conns = [Connection(host, port) for _ in range(int(spec.get("connections", 8)))]

    def steps_of(key: str) -> list[list[Step]]:
        return [[encode(host, port, s) for s in t] for t in spec.get(key) or []]

    templates = steps_of("templates")
    if not templates:
        raise SystemExit("the spec has no templates")
    warmup = steps_of("warmup_templates") or templates
    if float(spec.get("warmup_seconds", 0)) > 0:
        await closed_loop(conns, warmup, float(spec["warmup_seconds"]), marker)

    pgid = spec.get("cpu_pgid")
    server_cpu = group_cpu(int(pgid)) if pgid else math.nan
    own_cpu = time.process_time()
    if mode == "open":
        tally, elapsed = await open_loop(
            conns,
            templates,
            seconds,
            float(spec["rate"]),
            float(spec.get("grace_seconds", 5)),
            marker,
        )
    else:
        tally, elapsed = await closed_loop(conns, templates, seconds, marker)
    own_cpu = time.process_time() - own_cpu
    server_cpu = group_cpu(int(pgid)) - server_cpu if pgid else math.nan
    for c in conns:
        c.close()
    failed = sum(tally.errors.values())
    return {
        "mode": mode,
        "connections": len(conns),
        "scheduled": tally.scheduled,
        "answered": len(tally.latencies),
        "errors": dict(tally.errors),
        "unanswered": tally.scheduled - len(tally.latencies) - failed,
        "statuses": {str(k): v for k, v in sorted(tally.statuses.items())},
        "marked": tally.marked,
        "seconds": elapsed,
        "latencies_ms": [round(x * 1000, 3) for x in tally.latencies],
        "send_lag_p99_ms": percentile(tally.send_lag, 0.99) * 1000 if tally.send_lag else None,
        "waited_for_connection": tally.waited,
        "loadgen_cpu_s": own_cpu,
        "server_cpu_s": server_cpu,
        "event_loop": type(asyncio.get_running_loop()).__module__.split(".")[0],
    }


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: loadgen.py SPEC.json | -", file=sys.stderr)
        return 2
    text = sys.stdin.read() if args[0] == "-" else Path(args[0]).read_text()
    spec = json.loads(text)
    try:
        import uvloop
    except ImportError:
        result = asyncio.run(run(spec))
    else:
        result = uvloop.run(run(spec))
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
