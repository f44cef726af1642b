"""Recommendation serving latency and throughput through the HTTP API.

Prepares (once; reused from ``--workdir``) a SQLite database with a MovieLens import and every
configured model trained, starts the real server (``python -m tastemaker … serve``) on a copy of
it, and drives it with ``bench/loadgen.py`` running as a second process. Cases, in this order:

* **cold, sequential**: one connection, one request after another; each request is for a
  user/parameter combination not asked for before in the run, so no cache can answer it. The
  service time of an unloaded server.
* **cold @ rate**: the same kind of requests at a fixed open-loop rate (``--rate``, 200/s);
  latency counts from each request's scheduled send time, so waiting behind a busy server is
  included.
* **warm**: ``--warm-users`` users asked for again and again (after a warm-up that asked for
  each), closed-loop over ``--connections`` connections: what a cache buys.
* **/healthz**: the trivial endpoint of the same server, closed-loop, same connections: the
  ceiling of HTTP and the framework alone.
* **event → recommend**: a click event for a user, then that user's recommendations, on one
  connection, at ``--roundtrip-rate``; the latency of the pair.

The ``cached`` column is the share of answers that said ``"cached": true``: it must be 0 for the
cold cases (the run says so loudly if not) and is ~100 % for the warm case once the server has a
recommendation cache. After the timed cases a freshness check posts a click on the first item of
a few users' answers and checks the next answer no longer holds it.

Goals on a 2-core machine: p99 ≤ 25 ms for cold requests at 200 requests/s, and warm-cache
throughput ≥ 50 % of the trivial endpoint's.

Run from the repository root::

    .venv/bin/python bench/serve.py --data ../shared/data/ml-latest-small
    .venv/bin/python bench/serve.py --data ../shared/data/ml-latest-small --seconds 15 --rate 200
    .venv/bin/python bench/serve.py --data … --redis-url redis://127.0.0.1:6379/14 --workers 2
    .venv/bin/python bench/serve.py --data … --postgres-url postgresql://postgres@127.0.0.1:5432/test
    .venv/bin/python bench/serve.py --data … --server-env OPENBLAS_NUM_THREADS=1

``--workers N`` serves through ``tastemaker serve --workers N``: N processes on one port, each
tuned like a single server process and each with its own in-process cache, so the warm case
hits only as often as a connection lands on a process that has seen the user (unless
``--redis-url``).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import hashlib
import json
import math
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from ingest import Server, postgres_schema
from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
LOADGEN = Path(__file__).resolve().parent / "loadgen.py"
GOAL_COLD_P99_MS = 25.0
GOAL_WARM_SHARE = 0.5
PLACEMENT = "homepage"
K = 10
# Cold requests vary k around K, then also exclude an id no item has, so that a cache keyed on
# any of the request's parameters sees each combination once; the answer's size stays the same.
COLD_KS = (10, 9, 11, 8, 12)
PREPARED = "prepared.json"
STARTED = "Application startup complete."
"""What each server process logs once it serves."""

console = Console(width=None if sys.stdout.isatty() else 160)


# --------------------------------------------------------------------------------------------
# The database: imported and trained once per data set


def tastemaker(database_url: str, *args: str) -> None:
    """Run the CLI on ``database_url`` in insecure dev mode; fail with its output."""
    cmd = [sys.executable, "-m", "tastemaker", "--database-url", database_url, "--insecure-dev"]
    done = subprocess.run(
        [*cmd, *args], cwd=REPO, capture_output=True, text=True, check=False, env=server_env()
    )
    if done.returncode:
        raise SystemExit(f"`tastemaker {' '.join(args)}` failed:\n{done.stdout}{done.stderr}")


def server_env(**extra: str) -> dict[str, str]:
    """The environment without any TASTEMAKER_ setting of the caller's, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASTEMAKER_")}
    env.update(extra)
    return env


def prepare(data: Path, workdir: Path, rebuild: bool) -> tuple[Path, dict[str, Any]]:
    """A database with ``data`` imported and every configured model trained.

    Kept in ``workdir/<key>/`` (the key hashes the data folder's path and its files' sizes and
    times) and reused by later runs; ``rebuild`` makes it again, e.g. after the models' stored
    format changed."""
    if not (data / "ratings.csv").is_file():
        raise SystemExit(f"{data} has no ratings.csv: pass an unpacked ml-latest-small")
    files = sorted(p for p in data.iterdir() if p.suffix == ".csv")
    stamp = [str(data.resolve())] + [
        f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime}" for p in files
    ]
    key = hashlib.sha256("\n".join(stamp).encode()).hexdigest()[:12]
    home = workdir / key
    if rebuild and home.exists():
        shutil.rmtree(home)
    if (home / PREPARED).exists():
        return home / "bench.db", json.loads((home / PREPARED).read_text())
    building = workdir / f"{key}.building-{os.getpid()}"
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir(parents=True)
    url = f"sqlite:///{building / 'bench.db'}"
    console.print(f"preparing {home}: importing {data} and training every model (about a minute)")
    info = import_and_train(url, data)
    (building / PREPARED).write_text(json.dumps(info, indent=2))
    shutil.rmtree(home, ignore_errors=True)
    building.rename(home)
    return home / "bench.db", info


def import_and_train(url: str, data: Path) -> dict[str, Any]:
    """``data`` imported and every configured model trained in the database at ``url``."""
    t0 = time.perf_counter()
    tastemaker(url, "import", "movielens", str(data))
    t1 = time.perf_counter()
    tastemaker(url, "train")
    t2 = time.perf_counter()
    return {
        "data": str(data.resolve()),
        "import_s": round(t1 - t0, 1),
        "train_s": round(t2 - t1, 1),
        "models": "every configured model",
        "prepared": datetime.now(UTC).isoformat(timespec="seconds"),
    }


# --------------------------------------------------------------------------------------------
# The server under test


class ServeServer(Server):
    """The server on ``database_url``, in its own process group; ready once ``/readyz`` is."""

    def __init__(
        self, database_url: str, log_path: Path, workers: int, env: dict[str, str]
    ) -> None:
        super().__init__(database_url, log_path)
        self.workers = workers
        self.env = env

    ready_path = "/readyz"
    start_seconds = 180.0  # the models load and the profiles are rebuilt before it is ready

    def command(self) -> list[str]:
        return [
            *(sys.executable, "-m", "tastemaker", "serve", "--workers", str(self.workers)),
            *("--host", "127.0.0.1", "--port", str(self.port)),
        ]

    def __enter__(self) -> ServeServer:
        """Ready once every process has started up: the first to answer ``/readyz`` may be
        alone for a while, and the load would all go to it."""
        super().__enter__()
        deadline = time.monotonic() + self.start_seconds
        while self.log_path.read_text(errors="replace").count(STARTED) < self.workers:
            if time.monotonic() > deadline:
                self.__exit__()
                raise RuntimeError(f"not all {self.workers} server processes started")
            time.sleep(0.1)
        return self

    def environment(self) -> dict[str, str]:
        return server_env(
            TASTEMAKER_DATABASE_URL=self.database_url, TASTEMAKER_INSECURE_DEV="1", **self.env
        )

    def rss_mib(self) -> float:
        """Resident memory of the server's processes (its process group), MiB."""
        total = 0
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            with contextlib.suppress(OSError, IndexError, ValueError):
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(stat[2]) == self.pid:
                    total += int(stat[21]) * os.sysconf("SC_PAGE_SIZE")
        return total / 2**20


# --------------------------------------------------------------------------------------------
# Requests


def rec_path(user: str, k: int = K, exclude: str | None = None) -> str:
    path = f"/v1/users/{quote(user, safe='')}/recommendations?placement={PLACEMENT}&k={k}"
    return path + (f"&exclude={quote(exclude, safe='')}" if exclude else "")


def step(method: str, path: str, body: Any = None, expect: str | None = None) -> dict[str, Any]:
    return {"method": method, "path": path, "body": body, "expect": expect}


def cold_requests(users: list[str], seed: int) -> Iterator[list[dict[str, Any]]]:
    """Recommendation requests whose user/parameter combination never repeats.

    Pass ``p`` over the (shuffled) users asks with ``k = COLD_KS[p % 5]``; from the sixth pass
    on, each also excludes an id of no item (``bench-none-<pass>``)."""
    order = list(users)
    random.Random(seed).shuffle(order)
    for p in range(1_000_000):
        exclude = f"bench-none-{p}" if p >= len(COLD_KS) else None
        for user in order:
            yield [
                step("GET", rec_path(user, COLD_KS[p % len(COLD_KS)], exclude), expect='"items"')
            ]


def take(it: Iterator[list[dict[str, Any]]], n: int) -> list[list[dict[str, Any]]]:
    return [next(it) for _ in range(n)]


def roundtrips(users: list[str], items: list[str], n: int, tag: str) -> list[list[dict[str, Any]]]:
    """``n`` click-then-recommend pairs, a different user each while there are users."""
    stamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    rng = random.Random(7)
    out = []
    for i in range(n):
        user = users[i % len(users)]
        event = {
            "event_id": f"bench-{tag}-{i}",
            "user_id": user,
            "item_id": rng.choice(items),
            "type": "click",
            "timestamp": stamp,
            "context": {"placement": PLACEMENT},
        }
        out.append(
            [
                step("POST", "/v1/events", {"events": [event]}, expect='"stored":1'),
                step("GET", rec_path(user), expect='"items"'),
            ]
        )
    return out


def read_data(data: Path) -> tuple[list[str], list[str]]:
    """The raters and the 300 most rated movies of a MovieLens folder."""
    counts: Counter[str] = Counter()
    users: dict[str, None] = {}
    with (data / "ratings.csv").open(newline="") as f:
        for row in csv.DictReader(f):
            users[row["userId"]] = None
            counts[row["movieId"]] += 1
    return list(users), [m for m, _ in counts.most_common(300)]


# --------------------------------------------------------------------------------------------
# Load


@dataclass
class Case:
    name: str
    spec: dict[str, Any]
    result: dict[str, Any] = field(default_factory=dict)
    note: str = ""

    @property
    def latencies(self) -> list[float]:
        return list(self.result.get("latencies_ms", []))

    @property
    def answered(self) -> int:
        return int(self.result.get("answered", 0))

    @property
    def failed(self) -> int:
        errors: dict[str, int] = self.result.get("errors", {})
        return sum(errors.values()) + int(self.result.get("unanswered", 0))

    @property
    def rate(self) -> float:
        seconds = float(self.result.get("seconds", 0))
        return self.answered / seconds if seconds else 0.0

    def percentile(self, q: float) -> float:
        """Over every scheduled request; an unanswered or failed one counts as infinitely slow."""
        values = sorted(self.latencies) + [math.inf] * self.failed
        if not values:
            return math.nan
        return values[min(len(values) - 1, int(q * len(values)))]

    def per_request_ms(self, key: str) -> float:
        cpu = float(self.result.get(key, math.nan))
        return cpu / self.answered * 1000 if self.answered else math.nan

    @property
    def cached_share(self) -> float:
        return int(self.result.get("marked", 0)) / self.answered if self.answered else math.nan


def drive(case: Case) -> Case:
    """Run the load generator as its own process on ``case.spec``."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(case.spec, f)
    try:
        done = subprocess.run(
            [sys.executable, str(LOADGEN), f.name], capture_output=True, text=True, check=False
        )
    finally:
        os.unlink(f.name)
    if done.returncode:
        raise RuntimeError(f"the load generator failed on {case.name}:\n{done.stderr[-3000:]}")
    case.result = json.loads(done.stdout)
    return case


def freshness_check(server: ServeServer, users: list[str], tag: str) -> dict[str, int]:
    """Ask, click the first item, ask again: does the next answer drop the clicked item?"""
    seen = Counter[str]()
    stamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    with httpx.Client(base_url=server.url, timeout=30) as http:
        for n, user in enumerate(users):
            before = http.get(rec_path(user)).json()
            first = before["items"][0]["item_id"]
            event = {
                "event_id": f"fresh-{tag}-{n}",
                "user_id": user,
                "item_id": first,
                "type": "click",
                "timestamp": stamp,
            }
            stored = http.post("/v1/events", json={"events": [event]}).json()
            after = http.get(rec_path(user)).json()
            ids = [i["item_id"] for i in after["items"]]
            seen["users"] += 1
            seen["stored"] += stored.get("stored") == 1
            seen["clicked item gone"] += first not in ids
            seen["answer changed"] += ids != [i["item_id"] for i in before["items"]]
            seen["not cached"] += not after.get("cached", False)
    return dict(seen)


def exposure_counts(server: ServeServer) -> dict[str, float]:
    """The exposure writer's series from ``/metrics`` (of the process that answers it)."""
    text = httpx.get(server.url + "/metrics", timeout=10).text
    out = {}
    for line in text.splitlines():
        if line.startswith(("tastemaker_exposures_", "tastemaker_exposure_write_failures_total")):
            name, _, number = line.rpartition(" ")
            out[name.removeprefix("tastemaker_")] = float(number)
    return out


def wrk_healthz(server: ServeServer, connections: int, seconds: float) -> str | None:
    """wrk's requests/s for /healthz, when wrk is installed (a peer figure)."""
    wrk = shutil.which("wrk")
    if wrk is None:
        return None
    done = subprocess.run(
        [wrk, "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", server.url + "/healthz"],
        capture_output=True,
        text=True,
        check=False,
    )
    for line in done.stdout.splitlines():
        if line.startswith("Requests/sec:"):
            return line.split(":", 1)[1].strip()
    return None


# --------------------------------------------------------------------------------------------
# Report


def ms(x: float) -> str:
    if math.isinf(x):
        return "[red]unanswered[/]"
    return "–" if math.isnan(x) else f"{x:.1f}"


def goal_of(case: Case, healthz: Case | None) -> str:
    if case.name.startswith("cold @"):
        if case.cached_share:
            return "[red]invalid: cache hits"
        met = case.percentile(0.99) <= GOAL_COLD_P99_MS and case.failed == 0
        return f"p99 ≤ {GOAL_COLD_P99_MS:g} ms " + ("[green]met" if met else "[red]missed")
    if case.name.startswith("warm") and healthz and healthz.rate:
        share = case.rate / healthz.rate
        met = share >= GOAL_WARM_SHARE
        return f"{share:.0%} of /healthz (≥ 50 %) " + ("[green]met" if met else "[red]missed")
    return ""


def report(cases: list[Case], args: argparse.Namespace, context: dict[str, Any]) -> None:
    table = Table(
        title=f"Tastemaker serving: {context['items']:,} items, {context['users']} users, "
        f"{os.cpu_count()} cores, {args.workers} worker(s), {args.seconds:g} s per case, "
        f"load average {context['load_before']:.1f} before / {context['load_after']:.1f} after"
    )
    for column in ("case", "load"):
        table.add_column(column)
    for column in (
        "requests",
        "req/s",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "errors",
        "server CPU ms/req",
        "gen CPU ms/req",
        "cached",
    ):
        table.add_column(column, justify="right")
    table.add_column("goal")
    healthz = next((c for c in cases if c.name == "/healthz"), None)
    for c in cases:
        r = c.result
        load = (
            f"open {c.spec['rate']:g}/s ×{r['connections']}"
            if c.spec["mode"] == "open"
            else f"closed ×{r['connections']}"
        )
        errors = dict(r.get("errors", {}))
        if r.get("unanswered"):
            errors["unanswered"] = r["unanswered"]
        cached = "–" if c.name == "/healthz" else f"{c.cached_share:.0%}"
        if c.name.startswith("cold") and c.cached_share:
            cached = f"[red]{cached}"
        table.add_row(
            c.name + (f" [dim]({c.note})[/]" if c.note else ""),
            load,
            f"{r['scheduled']:,}",
            f"{c.rate:,.1f}",
            ms(c.percentile(0.50)),
            ms(c.percentile(0.95)),
            ms(c.percentile(0.99)),
            ", ".join(f"{v:,} {k}" for k, v in errors.items()) or "0",
            f"{c.per_request_ms('server_cpu_s'):.2f}",
            f"{c.per_request_ms('loadgen_cpu_s'):.3f}",
            cached,
            goal_of(c, healthz),
        )
    console.print(table)

    cold = next((c for c in cases if c.name.startswith("cold @")), None)
    warm = next((c for c in cases if c.name.startswith("warm")), None)
    if cold:
        r = cold.result
        p99 = cold.percentile(0.99)
        answered = sorted(cold.latencies)
        console.print(
            f"Cold @ {args.rate:g}/s: p99 "
            + (
                f"unbounded ({cold.failed:,} of {r['scheduled']:,} not answered within "
                f"{args.grace:g} s of the last send; the answered ones: p50 "
                f"{ms(answered[len(answered) // 2]) if answered else '–'} ms)"
                if math.isinf(p99)
                else f"{ms(p99)} ms"
            )
            + f" (goal ≤ {GOAL_COLD_P99_MS:g} ms); answered {cold.rate:.1f}/s of "
            f"{args.rate:g}/s sent; {r['waited_for_connection']:,} requests found all "
            f"{r['connections']} connections busy; the generator's own send lag p99 "
            f"{r['send_lag_p99_ms']:.2f} ms."
        )
        if cold.cached_share:
            console.print("[red]Some cold requests were answered from a cache: not cold.[/]")
    if warm and healthz and healthz.rate:
        console.print(
            f"Warm / trivial throughput: {warm.rate:,.0f} / {healthz.rate:,.0f} req/s = "
            f"{warm.rate / healthz.rate:.0%} (goal ≥ {GOAL_WARM_SHARE:.0%}); warm answers "
            f"from a cache: {warm.cached_share:.0%}"
            + (
                " — the server has no recommendation cache yet (no answer said cached: true)."
                if not warm.result.get("marked")
                else "."
            )
        )
    fresh = context.get("freshness")
    if fresh:
        console.print(
            f"Freshness: {fresh['users']} users asked, clicked their first item, asked again: "
            f"event stored {fresh['stored']}/{fresh['users']}, clicked item gone from the next "
            f"answer {fresh['clicked item gone']}/{fresh['users']}, answer changed "
            f"{fresh['answer changed']}/{fresh['users']}, next answer not from a cache "
            f"{fresh['not cached']}/{fresh['users']}."
        )
    ex = context.get("exposures")
    if ex:
        console.print(
            f"Exposure log at the end{' (one process of several)' if args.workers > 1 else ''}: "
            f"{ex.get('exposures_written_total', 0):,.0f} written, "
            f"{ex.get('exposures_queued', 0):,.0f} still queued, "
            f"{ex.get('exposures_dropped_total', 0):,.0f} dropped, "
            f"{ex.get('exposure_write_failures_total', 0):,.0f} failed batches."
        )
    prep = context["prepared"]
    if context.get("wrk"):
        console.print(f"wrk on /healthz, same connections: {context['wrk']} req/s (peer figure).")
    console.print(
        f"Server RSS after the run: {context['rss_mib']:,.0f} MiB. Database: {prep['data']} "
        f"(import {prep['import_s']} s, training {prep['train_s']} s, prepared "
        f"{prep['prepared']}). "
        f"Python {platform.python_version()}, {platform.machine()}."
    )
    if context["load_before"] > (os.cpu_count() or 1) / 2:
        console.print(
            f"[yellow]Other processes were keeping the machine busy (load average "
            f"{context['load_before']:.1f}): latencies and rates suffer; server CPU ms/req "
            "suffers less.[/]"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Recommendation serving latency through HTTP.")
    parser.add_argument("--data", type=Path, required=True, help="unpacked ml-latest-small")
    parser.add_argument(
        "--workdir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "tastemaker-bench-serve",
        help="where the prepared database is kept between runs",
    )
    parser.add_argument("--rebuild", action="store_true", help="prepare the database again")
    parser.add_argument("--seconds", type=float, default=15.0, help="measured time per case")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up time per case")
    parser.add_argument("--rate", type=float, default=200.0, help="cold requests per second")
    parser.add_argument(
        "--connections", type=int, default=8, help="connections of the closed-loop cases"
    )
    parser.add_argument(
        "--open-connections", type=int, default=16, help="connections of the open-loop cases"
    )
    parser.add_argument("--warm-users", type=int, default=20, help="users of the warm case")
    parser.add_argument(
        "--roundtrip-rate", type=float, default=10.0, help="event → recommend pairs per second"
    )
    parser.add_argument(
        "--grace", type=float, default=5.0, help="open loop: wait this long for late answers"
    )
    parser.add_argument("--redis-url", help="serve with this Redis (TASTEMAKER_REDIS_URL)")
    parser.add_argument(
        "--postgres-url",
        help="serve from a fresh schema of this PostgreSQL server (the data imported and every "
        "model trained there for the run, the schema dropped after) instead of SQLite",
    )
    parser.add_argument("--workers", type=int, default=1, help="server processes")
    parser.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an environment variable for the server, e.g. OPENBLAS_NUM_THREADS=1; repeatable",
    )
    args = parser.parse_args(argv)

    db, prepared = prepare(args.data, args.workdir, args.rebuild)
    users, items = read_data(args.data)
    tag = uuid.uuid4().hex[:8]
    cold = cold_requests(users, seed=int(tag, 16))
    warm_users = users[: args.warm_users]
    pair_users = users[len(users) // 2 :]
    fresh_users = users[args.warm_users : args.warm_users + 20]
    context: dict[str, Any] = {
        "users": len(users),
        "items": sum(1 for _ in (args.data / "movies.csv").open()) - 1,
        "prepared": prepared,
        "load_before": os.getloadavg()[0],
    }
    cases: list[Case] = []
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="tm-bench-serve-"))
        if args.postgres_url:
            url = stack.enter_context(postgres_schema(args.postgres_url))
            console.print("importing and training in a fresh PostgreSQL schema (about a minute)")
            context["prepared"] = import_and_train(url, args.data)
            context["prepared"]["data"] += " (in PostgreSQL)"
        else:
            run_db = Path(tmp) / "bench.db"
            shutil.copyfile(db, run_db)  # events posted by the run stay out of the prepared one
            url = f"sqlite:///{run_db}"
        log = Path(tmp) / "server.log"
        env = dict(kv.split("=", 1) for kv in args.server_env)
        if args.redis_url:
            env["TASTEMAKER_REDIS_URL"] = args.redis_url
        with ServeServer(url, log, args.workers, env) as server:
            base = {"host": "127.0.0.1", "port": server.port, "cpu_pgid": server.pid}
            n_cold = math.ceil(args.rate * args.seconds)
            specs = [
                Case(
                    "cold, sequential",
                    {
                        **base,
                        "mode": "closed",
                        "connections": 1,
                        "seconds": min(args.seconds, 5.0),
                        "warmup_seconds": args.warmup,
                        "warmup_templates": take(cold, math.ceil(args.warmup * 400)),
                        "templates": take(cold, math.ceil(min(args.seconds, 5.0) * 400)),
                    },
                ),
                Case(
                    f"cold @ {args.rate:g}/s",
                    {
                        **base,
                        "mode": "open",
                        "rate": args.rate,
                        "connections": args.open_connections,
                        "seconds": args.seconds,
                        "grace_seconds": args.grace,
                        "templates": take(cold, n_cold),
                    },
                ),
                Case(
                    f"warm, {len(warm_users)} users",
                    {
                        **base,
                        "mode": "closed",
                        "connections": args.connections,
                        "seconds": args.seconds,
                        "warmup_seconds": args.warmup,
                        "templates": [
                            [step("GET", rec_path(u), expect='"items"')] for u in warm_users
                        ],
                    },
                ),
                Case(
                    "/healthz",
                    {
                        **base,
                        "mode": "closed",
                        "connections": args.connections,
                        "seconds": args.seconds,
                        "warmup_seconds": args.warmup,
                        "templates": [[step("GET", "/healthz", expect='"ok"')]],
                    },
                ),
                Case(
                    "event → recommend",
                    {
                        **base,
                        "mode": "open",
                        "rate": args.roundtrip_rate,
                        "connections": 4,
                        "seconds": args.seconds,
                        "grace_seconds": args.grace,
                        "templates": roundtrips(
                            pair_users,
                            items,
                            math.ceil(args.roundtrip_rate * args.seconds),
                            tag,
                        ),
                    },
                ),
            ]
            for case in specs:
                console.print(f"[dim]{case.name} …[/]")
                cases.append(drive(case))
            context["freshness"] = freshness_check(server, fresh_users, tag)
            context["wrk"] = wrk_healthz(server, args.connections, args.seconds)
            context["rss_mib"] = server.rss_mib()
            context["exposures"] = exposure_counts(server)
    context["load_after"] = os.getloadavg()[0]
    report(cases, args, context)
    return 0


if __name__ == "__main__":
    sys.exit(main())
