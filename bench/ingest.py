"""Event ingestion throughput through the HTTP API.

Starts the real server (``python -m tastemaker … serve``) as a subprocess on a fresh database
and measures, per case, events/s, requests/s, request latency and the server's CPU time per
request:

* batched ingestion (``--batch`` events per request) into SQLite, with the durability settings
  the store configures (WAL, ``synchronous=FULL``, ``BEGIN IMMEDIATE``);
* batched ingestion into PostgreSQL, in a throwaway schema of ``--postgres-url`` (skipped, with
  the reason printed, when it cannot be reached);
* single-event requests into SQLite and PostgreSQL.

As a peer figure from the same run it inserts the same rows straight into SQLite through
``store.events.append`` (no HTTP, no JSON parsing, no validation): the ceiling that the HTTP
path is measured against.

The goal is ≥ 20,000 events/s for batched ingestion into SQLite on a 2-core machine. Events/s
fall when other processes compete for the cores; the server's CPU time per request does not
depend much on them, so compare that column between runs on a busy machine.

Run from the repository root::

    .venv/bin/python bench/ingest.py [--seconds 8] [--clients 4] [--batch 1000]
    .venv/bin/python bench/ingest.py --only sqlite batched
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Self

import httpx
import sqlalchemy as sa
from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
GOAL_EVENTS_PER_S = 20_000
BACKENDS = ("sqlite", "postgres")
REQUESTS = ("batched", "single")
USERS = 10_000
ITEMS = 5_000
MAX_RATE = {"batched": 60_000, "single": 4_000}
"""Events/s to prepare bodies for; a faster server ends the case early (and says so)."""

# (type, value) pairs that pass the default event-type vocabulary.
KINDS: list[tuple[str, float | None]] = [
    ("impression", None),
    ("impression", None),
    ("view", None),
    ("click", None),
    ("dwell", 42.5),
    ("scroll", 80.0),
    ("like", None),
    ("add_to_cart", 1.0),
]

console = Console(width=None if sys.stdout.isatty() else 130)


# --------------------------------------------------------------------------------------------
# Request bodies


def event_rows(tag: str, start: int, count: int, stamp: str) -> list[dict[str, object]]:
    """``count`` valid events with unique ids ``<tag>-<n>``, spread over users and items."""
    rows: list[dict[str, object]] = []
    for n in range(start, start + count):
        kind, value = KINDS[n % len(KINDS)]
        row: dict[str, object] = {
            "event_id": f"{tag}-{n}",
            "user_id": f"user-{(n * 7_919) % USERS}",
            "item_id": f"item-{(n * 104_729) % ITEMS}",
            "type": kind,
            "timestamp": stamp,
            "channel": "web",
            "context": {"placement": "homepage", "position": n % 10, "device": "mobile"},
        }
        if value is not None:
            row["value"] = value
        rows.append(row)
    return rows


def make_bodies(tag: str, requests: int, size: int) -> list[bytes]:
    """``requests`` JSON bodies of ``size`` events each; every event id is unique."""
    stamp = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    return [
        json.dumps(
            {"events": event_rows(tag, i * size, size, stamp)}, separators=(",", ":")
        ).encode()
        for i in range(requests)
    ]


# --------------------------------------------------------------------------------------------
# The server under test


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def process_cpu(pid: int) -> float:
    """User plus system CPU seconds a process has used so far (Linux; NaN elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return math.nan
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Server:
    """``python -m tastemaker serve`` in its own process group, logging to a file."""

    def __init__(self, database_url: str, log_path: Path) -> None:
        self.database_url = database_url
        self.log_path = log_path
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    ready_path = "/healthz"
    """Polled until it answers 200."""
    start_seconds = 90.0

    def command(self) -> list[str]:
        return [
            *(sys.executable, "-m", "tastemaker", "--database-url", self.database_url),
            *("--insecure-dev", "serve", "--host", "127.0.0.1", "--port", str(self.port)),
        ]

    def environment(self) -> dict[str, str] | None:
        """The server's environment; ``None``: this process's."""
        return None

    def __enter__(self) -> Self:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                self.command(),
                cwd=REPO,
                env=self.environment(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + self.start_seconds
        while time.monotonic() < deadline and self.proc.poll() is None:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + self.ready_path, timeout=1).status_code == 200:
                    return self
            time.sleep(0.1)
        self.__exit__()
        tail = self.log_path.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"the server did not come up; its log ends with:\n{tail}")

    def __exit__(self, *_: object) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None


# --------------------------------------------------------------------------------------------
# Load


@dataclass
class Result:
    case: str
    events: int = 0
    requests: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    cpu_seconds: float = math.nan
    """CPU time of the server (for the peer: of the storing thread) while measured."""
    note: str = ""

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def cpu_ms_per_request(self) -> float:
        return self.cpu_seconds / self.requests * 1000 if self.requests else math.nan

    def percentile(self, q: float) -> float:
        if not self.latencies:
            return math.nan
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def post_all(
    server: Server, bodies: list[bytes], size: int, clients: int, seconds: float
) -> Result:
    """Post ``bodies`` over ``clients`` keep-alive connections until they or the time run out."""
    result = Result(case="")
    lock = threading.Lock()
    queue = iter(bodies)
    start = time.perf_counter()
    deadline = start + seconds
    finished: list[float] = []

    def client() -> None:
        latencies: list[float] = []
        ok = errors = 0
        headers = {"content-type": "application/json"}
        with httpx.Client(base_url=server.url, timeout=60, headers=headers) as http:
            while time.perf_counter() < deadline:
                with lock:
                    body = next(queue, None)
                if body is None:
                    break
                t0 = time.perf_counter()
                try:
                    r = http.post("/v1/events", content=body)
                    good = r.status_code == 200 and r.json()["stored"] == size
                except httpx.HTTPError:
                    good = False
                latencies.append(time.perf_counter() - t0)
                ok += good
                errors += not good
        with lock:
            result.latencies.extend(latencies)
            result.requests += ok
            result.errors += errors
            finished.append(time.perf_counter())

    cpu_before = process_cpu(server.pid)
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result.cpu_seconds = process_cpu(server.pid) - cpu_before
    result.seconds = max(finished) - start
    result.events = result.requests * size
    if next(queue, None) is None:
        result.note = "used every prepared body"
    return result


def run_case(name: str, server: Server, size: int, args: argparse.Namespace) -> Result:
    """Warm up, then measure for ``args.seconds`` (or until the prepared bodies run out)."""
    rate = MAX_RATE["batched" if size > 1 else "single"]
    tag = uuid.uuid4().hex[:8]
    warm = make_bodies(f"w{tag}", max(2 * args.clients, int(args.warmup * rate / size)), size)
    post_all(server, warm, size, args.clients, args.warmup)
    bodies = make_bodies(f"m{tag}", max(args.clients, math.ceil(args.seconds * rate / size)), size)
    result = post_all(server, bodies, size, args.clients, args.seconds)
    result.case = name
    return result


def http_cases(backend: str, database_url: str, args: argparse.Namespace) -> list[Result]:
    results = []
    with tempfile.TemporaryDirectory(prefix="tm-bench-") as tmp:
        log = Path(tmp) / "server.log"
        with Server(database_url, log) as server:
            for kind, size in (("batched", args.batch), ("single", 1)):
                if not selected(args, kind, REQUESTS):
                    continue
                name = f"{kind} ×{size}, {backend}" if size > 1 else f"single event, {backend}"
                result = run_case(name, server, size, args)
                results.append(result)
                console.print(f"[dim]{result.case}: {result.events_per_s:,.0f} events/s[/]")
    return results


# --------------------------------------------------------------------------------------------
# Peer: the store without HTTP


def store_ceiling(args: argparse.Namespace) -> Result:
    """The same rows through ``store.events.append`` in-process: what HTTP and parsing cost."""
    from tastemaker.catalog.events import Event
    from tastemaker.config import Settings
    from tastemaker.storage import open_store

    stamp = datetime.now(UTC).isoformat().replace("+00:00", "Z")

    def batches(tag: str, count: int) -> list[list[Event]]:
        # Parsed before the clock starts: the peer measures the store alone.
        rows = (event_rows(tag, i * args.batch, args.batch, stamp) for i in range(count))
        return [[Event.model_validate(r) for r in batch] for batch in rows]

    result = Result(case=f"peer: store.events.append ×{args.batch}, sqlite, no HTTP")
    with tempfile.TemporaryDirectory(prefix="tm-bench-") as tmp:
        settings = Settings(database_url=f"sqlite:///{tmp}/peer.db", insecure_dev=True)
        store = open_store(settings)
        try:
            for batch in batches("pw", max(2, int(args.warmup * 20_000 / args.batch))):
                store.events.append(batch, datetime.now(UTC))
            prepared = batches("p", math.ceil(args.seconds * MAX_RATE["batched"] / args.batch))
            # Like the server's start-up objects, the prepared batches stay out of the garbage
            # collector's full passes, which would otherwise rescan them every few batches.
            gc.collect()
            gc.freeze()
            start, cpu_before = time.perf_counter(), time.thread_time()
            for batch in prepared:
                t0 = time.perf_counter()
                result.events += store.events.append(batch, datetime.now(UTC)).stored
                result.latencies.append(time.perf_counter() - t0)
                result.requests += 1
                if time.perf_counter() >= start + args.seconds:
                    break
            else:
                result.note = "used every prepared batch"
            result.seconds = time.perf_counter() - start
            result.cpu_seconds = time.thread_time() - cpu_before
        finally:
            gc.unfreeze()
            store.close()
    return result


# --------------------------------------------------------------------------------------------
# PostgreSQL


@contextlib.contextmanager
def postgres_schema(base: str) -> Iterator[str]:
    """A URL whose tables live in a fresh schema of ``base``, dropped afterwards."""
    schema = "tm_bench_" + uuid.uuid4().hex[:10]
    admin = sa.create_engine("postgresql+psycopg://" + base.split("://", 1)[1])
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def postgres_cases(args: argparse.Namespace) -> list[Result]:
    """The HTTP cases in a throwaway schema, or none (saying why) if PostgreSQL is unreachable."""
    probe = sa.create_engine(
        "postgresql+psycopg://" + args.postgres_url.split("://", 1)[1],
        connect_args={"connect_timeout": 3},
    )
    try:
        with probe.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError as exc:
        reason = str(exc).splitlines()[0]
        console.print(
            f"[yellow]postgres skipped: not reachable at {args.postgres_url} ({reason})[/]"
        )
        return []
    finally:
        probe.dispose()
    with postgres_schema(args.postgres_url) as url:
        return http_cases("postgres", url, args)


# --------------------------------------------------------------------------------------------
# Report


def report(
    results: list[Result], peer: Result | None, args: argparse.Namespace, load: float
) -> None:
    table = Table(
        title=f"Tastemaker ingestion: {args.clients} clients, {os.cpu_count()} cores, "
        f"{args.seconds:g} s per case, load average {load:.1f} before the run"
    )
    columns = ("case", "events/s", "requests/s", "p50 ms", "p99 ms", "CPU ms/request", "errors")
    for column in columns:
        table.add_column(column, justify="left" if column == "case" else "right")
    table.add_column("goal")
    for r in [*results, *([peer] if peer else [])]:
        goal = ""
        if r.case.startswith("batched") and r.case.endswith("sqlite"):
            met = r.events_per_s >= GOAL_EVENTS_PER_S
            goal = f"≥ {GOAL_EVENTS_PER_S:,} events/s: " + ("[green]met" if met else "[red]missed")
        table.add_row(
            r.case + (f" [dim]({r.note})[/]" if r.note else ""),
            f"{r.events_per_s:,.0f}",
            f"{r.requests_per_s:,.1f}",
            f"{r.percentile(0.50) * 1000:.1f}",
            f"{r.percentile(0.99) * 1000:.1f}",
            f"{r.cpu_ms_per_request:.2f}",
            f"{r.errors:,}",
            goal,
        )
    console.print(table)
    batched = next(
        (r for r in results if r.case.startswith("batched") and "sqlite" in r.case), None
    )
    if batched and peer and peer.events_per_s:
        console.print(
            f"The HTTP path reaches {batched.events_per_s / peer.events_per_s:.0%} of the store's "
            f"own rate ({peer.events_per_s:,.0f} events/s without HTTP, parsing or validation)."
        )
    if load > (os.cpu_count() or 1) / 2:
        console.print(
            f"[yellow]Other processes were keeping the machine busy (load average {load:.1f}): "
            "the rates above are lower than on an idle machine.[/]"
        )


def selected(args: argparse.Namespace, what: str, group: tuple[str, ...]) -> bool:
    """Whether ``--only`` selects ``what``: it names it, or names nothing of its group."""
    if not args.only:
        return True
    named = [w for w in args.only if w in group]
    if named:
        return what in named
    # Nothing of this group is named: all of it runs, unless only the peer was asked for.
    return any(w in (*BACKENDS, *REQUESTS) for w in args.only)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Event ingestion throughput through HTTP.")
    parser.add_argument("--seconds", type=float, default=8.0, help="measured time per case")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up time per case")
    parser.add_argument("--clients", type=int, default=4, help="concurrent connections")
    parser.add_argument("--batch", type=int, default=1000, help="events per batched request")
    parser.add_argument(
        "--postgres-url", default=DEFAULT_POSTGRES, help="PostgreSQL server for its cases"
    )
    parser.add_argument(
        "--only",
        nargs="+",
        choices=(*BACKENDS, *REQUESTS, "peer"),
        default=[],
        help="run only these backends, request kinds and/or the peer, e.g. `sqlite batched`",
    )
    args = parser.parse_args(argv)

    load = os.getloadavg()[0]
    results: list[Result] = []
    if selected(args, "sqlite", BACKENDS):
        with tempfile.TemporaryDirectory(prefix="tm-bench-") as tmp:
            results += http_cases("sqlite", f"sqlite:///{tmp}/bench.db", args)
    if selected(args, "postgres", BACKENDS):
        results += postgres_cases(args)
    peer = store_ceiling(args) if not args.only or "peer" in args.only else None
    report(results, peer, args, load)
    return 0


if __name__ == "__main__":
    sys.exit(main())
