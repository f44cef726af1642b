"""The exposure writer: every queued exposure reaches the log, in bounded transactions, so a
backlog never keeps other writers (ingestion) out of the database for long."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime

import pytest

from tastemaker.catalog import Event
from tastemaker.catalog.columns import Columns
from tastemaker.catalog.exposures import Exposure
from tastemaker.serving.exposures import ExposureWriter
from tastemaker.serving.metrics import ExposureCounts
from tastemaker.storage import DataStore
from tests.test_exposures import exposure

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class Recorded:
    """The batch sizes the writer hands to the store's ``log_many`` (which still stores them),
    with an optional hook run after each stored batch."""

    def __init__(self, store: DataStore) -> None:
        self.sizes: list[int] = []
        self.fail_next = 0
        self._log_many = store.exposures.log_many
        self.hook: Callable[[], None] | None = None

    def __call__(self, exposures: Sequence[Exposure]) -> None:
        if self.fail_next:
            self.fail_next -= 1
            raise ConnectionError("the database went away")
        self._log_many(exposures)
        self.sizes.append(len(exposures))
        if self.hook is not None:
            self.hook()


@pytest.fixture
def recorded(store: DataStore, monkeypatch: pytest.MonkeyPatch) -> Recorded:
    spy = Recorded(store)
    monkeypatch.setattr(store.exposures, "log_many", spy)
    return spy


@pytest.fixture
def writer(store: DataStore) -> Iterator[ExposureWriter]:
    # No background thread: the test decides when to store.
    w = ExposureWriter(store, max_batch=20, max_queue=1000, background=False)
    yield w
    w.close()


def many(n: int, prefix: str = "r") -> list[Exposure]:
    return [exposure(rid=f"{prefix}{i}", user=f"u{i % 7}") for i in range(n)]


def test_a_backlog_is_stored_whole_in_batches_of_at_most_max_batch(
    store: DataStore, writer: ExposureWriter, recorded: Recorded
) -> None:
    for e in many(95):
        writer.submit(e)
    assert writer.counts().queued == 95
    writer.flush()
    assert sum(recorded.sizes) == 95
    assert max(recorded.sizes) <= 20
    assert writer.counts() == ExposureCounts(queued=0, written=95, dropped=0, failures=0)
    assert all(store.exposures.get(f"r{i}") for i in range(95))


def test_an_event_is_written_while_a_backlog_is_being_stored(
    store: DataStore, writer: ExposureWriter, recorded: Recorded
) -> None:
    """Between two batches the database is free: an event written meanwhile is stored before
    the backlog is done (one transaction for the whole backlog would keep it waiting)."""
    event_stored = threading.Event()

    def append_event() -> None:
        store.events.append([Event(event_id="e1", user_id="u1", item_id="a", type="view")], NOW)
        event_stored.set()

    def write_an_event() -> None:
        if len(recorded.sizes) == 1:
            threading.Thread(target=append_event).start()
            assert event_stored.wait(10), "the event waited for the whole backlog"

    recorded.hook = write_an_event
    for e in many(100):
        writer.submit(e)
    writer.flush()
    assert event_stored.is_set()
    assert store.events.count() == 1
    assert sum(recorded.sizes) == 100
    assert len(recorded.sizes) >= 5


def test_a_failed_batch_is_kept_in_order_and_stored_later(
    store: DataStore, writer: ExposureWriter, recorded: Recorded
) -> None:
    for e in many(30):
        writer.submit(e)
    recorded.fail_next = 1
    writer.flush()  # the first batch fails: nothing stored, nothing lost
    assert writer.counts() == ExposureCounts(queued=30, written=0, dropped=0, failures=1)
    assert writer.pending("r0"), "a queued page is still visible to next-page requests"
    assert writer.flush() == 30
    assert writer.counts().written == 30
    assert writer.pending("r0") == []
    stored = store.exposures.frame()
    assert sorted(set(stored[Columns.RECOMMENDATION_ID])) == sorted(f"r{i}" for i in range(30))


def test_a_full_queue_drops_the_oldest_and_counts_them(
    store: DataStore, recorded: Recorded
) -> None:
    w = ExposureWriter(store, max_batch=2, max_queue=5, background=False)
    try:
        for e in many(7):
            w.submit(e)
        assert w.pending("r0") == []
        assert w.pending("r1") == []
        assert w.pending("r2") != []
        w.flush()
        assert w.counts() == ExposureCounts(queued=0, written=5, dropped=2, failures=0)
        assert store.exposures.get("r0") == []
        assert store.exposures.get("r6") != []
    finally:
        w.close()


def test_a_batch_cannot_be_larger_than_the_queue(store: DataStore) -> None:
    with pytest.raises(ValueError, match="max_batch"):
        ExposureWriter(store, max_batch=10, max_queue=5)


def test_the_background_thread_stores_without_being_asked(store: DataStore) -> None:
    w = ExposureWriter(store, flush_seconds=0.01)
    try:
        w.submit(exposure(rid="bg"))
        deadline = time.monotonic() + 10
        while w.counts().written < 1:
            assert time.monotonic() < deadline, "not stored within 10 s"
            time.sleep(0.01)
        assert store.exposures.get("bg") != []
        assert w.pending("bg") == []
    finally:
        w.close()


def test_store_now_stores_one_recommendations_pages_ahead_of_the_queue(
    store: DataStore, writer: ExposureWriter
) -> None:
    for e in [
        *many(5, "a"),
        exposure(rid="next", page=0),
        *many(5, "b"),
        exposure(rid="next", page=1),
    ]:
        writer.submit(e)
    assert writer.store_now("next") == 2
    assert [e.page for e in store.exposures.get("next")] == [0, 1]
    assert writer.pending("next") == []
    assert writer.counts() == ExposureCounts(queued=10, written=2, dropped=0, failures=0)
    assert store.exposures.get("a0") == []
    assert writer.store_now("next") == 0  # nothing of it queued any more
    assert writer.flush() == 10
    assert store.exposures.get("b4") != []
