"""Crash test: SIGKILL the real server while clients ingest, then audit the database.

Clients post event batches with unique event ids and retry every batch that got no
acknowledgement (connection refused or reset, timeout, 503) with the same ids until it is
acknowledged. Meanwhile the server process is killed with SIGKILL at random moments and
restarted. Afterwards every acknowledged event is stored exactly once and nothing else is, and
each acknowledgement told the truth: a retry whose earlier attempt had committed reported the
batch as duplicates, and one whose earlier attempts had not reported it as stored.

SIGKILL ends the process, not the machine: what this proves is that a commit is all or nothing
and idempotent across restarts, and that no acknowledgement precedes its commit.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from tastemaker.storage.sql.engine import normalize_url
from tastemaker.storage.tables import events as events_table
from tests.live import free_port

pytestmark = pytest.mark.slow

SEED = 20_260_131
CLIENTS = 4
KILLS = 6
UPTIME = (0.3, 1.2)
"""Seconds the server runs between becoming healthy and the next SIGKILL."""
BATCH = (20, 100)
USERS = 60
"""Clients share users, so concurrent batches also race to create the same users."""
KINDS = (("view", None), ("click", None), ("dwell", 12.5), ("impression", None))
TIMEOUT = httpx.Timeout(5.0, connect=1.0)
RETRY_PAUSE = 0.05
STARTUP_TIMEOUT = 90.0
"""Generous: a loaded machine can take long to import, migrate and bind."""
BATCH_TIMEOUT = 120.0
"""A batch still unacknowledged this long after the killer stopped fails the test."""


class Server:
    """``python -m tastemaker … serve`` in its own process group, on a fixed port."""

    def __init__(self, database_url: str, log: Path) -> None:
        self.database_url = database_url
        self.log = log
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        with self.log.open("ab") as log:
            log.write(f"\n--- start {self.starts + 1} ---\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tastemaker",
                    "--database-url",
                    self.database_url,
                    "--insecure-dev",
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.starts += 1
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline and self.proc.poll() is None:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/healthz", timeout=1.0).status_code == 200:
                    return
            time.sleep(0.05)
        self.kill()
        raise AssertionError(f"the server did not become healthy; its log ends:\n{self.tail()}")

    def kill(self) -> None:
        """SIGKILL the whole process group and reap the server."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.proc = None

    def tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:]


@dataclass
class Batch:
    """One batch and the story of its attempts."""

    events: list[dict[str, Any]]
    attempts: list[tuple[float, float, str]] = field(default_factory=list)
    """``(sent, answered, outcome)`` in wall-clock seconds, the server's clock too."""
    result: dict[str, int] = field(default_factory=dict)

    @property
    def ids(self) -> list[str]:
        return [e["event_id"] for e in self.events]


@dataclass
class Ledger:
    """What the clients sent and what the server acknowledged; shared by all threads."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    sent: set[str] = field(default_factory=set)
    acknowledged: list[Batch] = field(default_factory=list)
    statuses: Counter[int | str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    aborted: bool = False
    """Set when the test fails early: clients stop retrying at once."""

    def problem(self, batch: Batch, what: str) -> None:
        with self.lock:
            self.problems.append(f"batch {batch.ids[0]}…: {what}")


def make_batch(rng: random.Random, client: int, number: int) -> Batch:
    events = []
    for i in range(rng.randint(*BATCH)):
        kind, value = rng.choice(KINDS)
        event: dict[str, Any] = {
            "event_id": f"c{client}-b{number}-e{i}",
            "user_id": f"user-{rng.randrange(USERS)}",
            "item_id": f"item-{rng.randrange(500)}",
            "type": kind,
            "context": {"placement": "crash-test", "position": i},
        }
        if value is not None:
            event["value"] = value
        events.append(event)
    return Batch(events)


def post_until_acknowledged(
    http: httpx.Client, batch: Batch, ledger: Ledger, done: threading.Event
) -> None:
    """Post one batch, retrying with the same ids until a 200 acknowledges all of it."""
    with ledger.lock:
        ledger.sent.update(batch.ids)
    give_up: float | None = None
    while True:
        sent = time.time()
        try:
            response = http.post("/v1/events", json={"events": batch.events})
        except httpx.TimeoutException:
            outcome: int | str = "timeout"
        except httpx.TransportError:
            outcome = "connection lost"
        else:
            outcome = response.status_code
        batch.attempts.append((sent, time.time(), str(outcome)))
        with ledger.lock:
            ledger.statuses[outcome] += 1
        if outcome == 200:
            break
        if isinstance(outcome, int) and outcome != 503:
            ledger.problem(batch, f"HTTP {outcome}: {response.text[:300]}")
            return
        if ledger.aborted:
            return
        if done.is_set():
            give_up = give_up or time.monotonic() + BATCH_TIMEOUT
            if time.monotonic() > give_up:
                ledger.problem(batch, "never acknowledged")
                return
        time.sleep(RETRY_PAUSE)
    batch.result = response.json()
    size, stored, duplicates = len(batch.events), batch.result["stored"], batch.result["duplicates"]
    if stored + duplicates != size:
        ledger.problem(batch, f"{batch.result} for {size} events")
    elif duplicates not in (0, size):
        # A batch commits in one transaction: all of it or none of it.
        ledger.problem(batch, f"partly stored before: {batch.result}")
    elif duplicates and len(batch.attempts) == 1:
        ledger.problem(batch, f"fresh ids reported as duplicates: {batch.result}")
    else:
        with ledger.lock:
            ledger.acknowledged.append(batch)


def client_loop(number: int, url: str, ledger: Ledger, done: threading.Event) -> None:
    rng = random.Random(SEED * 100 + number)
    with httpx.Client(base_url=url, timeout=TIMEOUT) as http:
        count = 0
        while not done.is_set() and not ledger.aborted:
            count += 1
            post_until_acknowledged(http, make_batch(rng, number, count), ledger, done)


def read_events(database_url: str) -> tuple[Counter[str], dict[str, set[datetime]]]:
    """Straight from the events table: rows per event id, and when each event was received."""
    t = events_table
    engine = sa.create_engine(normalize_url(database_url))
    try:
        with engine.connect() as conn:
            counts = Counter(
                {
                    eid: int(n)
                    for eid, n in conn.execute(
                        sa.select(t.c.event_id, sa.func.count()).group_by(t.c.event_id)
                    )
                }
            )
            received: dict[str, set[datetime]] = {}
            for eid, at in conn.execute(sa.select(t.c.event_id, t.c.received_at)):
                received.setdefault(eid, set()).add(at)
            return counts, received
    finally:
        engine.dispose()


@dataclass
class Audit:
    first_committed: int = 0
    """Retried batches whose earlier attempt had committed, reported as duplicates."""
    retry_stored: int = 0
    """Retried batches whose earlier attempts had not committed, stored by the retry."""
    unverifiable: int = 0
    """Retried after a timeout: the timed-out request may have been served late."""
    problems: list[str] = field(default_factory=list)


def audit_reports(batches: list[Batch], received: dict[str, set[datetime]]) -> Audit:
    """Check each acknowledgement against the attempt whose time the stored rows carry.

    The server stamps a batch's rows with the time it handled the request, so the attempt that
    committed them is the one whose window holds that time. Only a timed-out attempt may still
    be served after its window (the client gave up first): such batches are left out.
    """
    audit = Audit()
    for batch in batches:
        if len(batch.attempts) == 1:
            continue
        stamps = set().union(*(received.get(eid, set()) for eid in batch.ids))
        if len(stamps) != 1:
            audit.problems.append(f"{batch.ids[0]}…: stored by {len(stamps)} commits")
            continue
        if any(outcome == "timeout" for _, _, outcome in batch.attempts):
            audit.unverifiable += 1
            continue
        at = stamps.pop().timestamp()
        committer = [i for i, (t0, t1, _) in enumerate(batch.attempts) if t0 - 1e-3 <= at <= t1]
        by_retry = committer == [len(batch.attempts) - 1]
        if batch.result["duplicates"] and not by_retry:
            audit.first_committed += 1
        elif batch.result["stored"] and by_retry:
            audit.retry_stored += 1
        else:
            audit.problems.append(
                f"{batch.ids[0]}…: the last of {len(batch.attempts)} attempts reported "
                f"{batch.result}, but the rows carry the time of attempt(s) {committer}"
            )
    return audit


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[Server]:
    server = Server(database_url, tmp_path / "server.log")
    try:
        yield server
    finally:
        server.kill()


def test_killed_server_loses_and_duplicates_nothing(
    server: Server, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = random.Random(SEED)
    ledger = Ledger()
    done = threading.Event()
    server.start()
    clients = [
        threading.Thread(target=client_loop, args=(n, server.url, ledger, done), daemon=True)
        for n in range(CLIENTS)
    ]
    for t in clients:
        t.start()
    try:
        for _ in range(KILLS):
            time.sleep(rng.uniform(*UPTIME))
            server.kill()
            time.sleep(rng.uniform(0.0, 0.3))  # Clients meet a refused connection for a while.
            server.start()
        time.sleep(UPTIME[1])
    except BaseException:
        ledger.aborted = True
        raise
    finally:
        done.set()
        for t in clients:
            t.join(timeout=BATCH_TIMEOUT + 30)
    assert not any(t.is_alive() for t in clients), "a client hung"
    assert not ledger.problems, "\n".join(ledger.problems[:20]) + "\n" + server.tail()

    counts, received = read_events(database_url)
    twice = sorted(eid for eid, n in counts.items() if n != 1)
    assert not twice, f"{len(twice)} events are stored more than once, e.g. {twice[:5]}"
    never_sent = sorted(set(counts) - ledger.sent)
    assert not never_sent, f"{len(never_sent)} stored events were never sent: {never_sent[:5]}"
    acknowledged = {eid for batch in ledger.acknowledged for eid in batch.ids}
    lost = sorted(acknowledged - set(counts))
    assert not lost, f"{len(lost)} acknowledged events are missing, e.g. {lost[:5]}"
    unacknowledged = sorted(set(counts) - acknowledged)
    assert not unacknowledged, f"{len(unacknowledged)} stored events were never acknowledged"
    audit = audit_reports(ledger.acknowledged, received)
    assert not audit.problems, "\n".join(audit.problems[:20])
    assert server.starts == KILLS + 1

    # Batches sent again after their acknowledgement (as after a lost response) are duplicates.
    replay = rng.sample(ledger.acknowledged, min(20, len(ledger.acknowledged)))
    with httpx.Client(base_url=server.url, timeout=30) as http:
        for batch in replay:
            response = http.post("/v1/events", json={"events": batch.events})
            assert response.json() == {"stored": 0, "duplicates": len(batch.ids)}, response.text
    assert read_events(database_url)[0] == counts

    retried = sum(len(b.attempts) > 1 for b in ledger.acknowledged)
    with capsys.disabled():
        print(
            f"\n[{database_url.split(':', 1)[0]}] {KILLS} kills; {len(ledger.acknowledged)} "
            f"batches, {len(counts)} events, each stored once; {retried} batches retried: "
            f"{audit.first_committed} had committed before (answered as duplicates), "
            f"{audit.retry_stored} had not (stored by the retry), {audit.unverifiable} retried "
            f"after a timeout; {sum(ledger.statuses.values())} requests: "
            + ", ".join(f"{n} {outcome}" for outcome, n in ledger.statuses.most_common())
        )
