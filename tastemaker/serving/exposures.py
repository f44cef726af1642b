"""Logging what every response showed, off the request's critical path.

Each recommendation response becomes an :class:`~tastemaker.catalog.exposures.Exposure` (one per
page). Writing it inside the request would put a durable commit (an fsync on SQLite) on every
read; instead :class:`ExposureWriter` queues it and a background thread stores the queue every
``flush_seconds`` (or sooner when ``max_batch`` pile up). Next-page requests consult the queue
too, so a page asked for right after the first never repeats its items. A crash loses at most
the last ``flush_seconds`` of exposures, never an acknowledged client write.
"""

from __future__ import annotations

import logging
import threading
from collections import deque

from tastemaker.catalog.exposures import Exposure
from tastemaker.errors import Conflict, InvalidInput
from tastemaker.serving.metrics import ExposureCounts
from tastemaker.storage import DataStore

log = logging.getLogger(__name__)


class ExposureWriter:
    """Stores exposures in batches from a background thread.

    Parameters
    ----------
    store
        The store whose exposure log receives them.
    flush_seconds
        Longest time an exposure waits in the queue.
    max_batch
        Queue length that triggers a write at once, and the most exposures stored in one
        transaction.
    max_queue
        Exposures kept while the store fails; beyond it the oldest are dropped (and counted).
    background
        Store from a background thread; without it nothing is stored until :meth:`flush`
        (for callers that choose when to write).
    """

    def __init__(
        self,
        store: DataStore,
        flush_seconds: float = 0.2,
        max_batch: int = 200,
        max_queue: int = 100_000,
        *,
        background: bool = True,
    ) -> None:
        self.store = store
        self.flush_seconds = flush_seconds
        if not 1 <= max_batch <= max_queue:
            raise ValueError("max_batch must be between 1 and max_queue")
        self.max_batch = max_batch
        self.max_queue = max_queue
        self._queue: deque[Exposure] = deque(maxlen=max_queue)
        self._pending: dict[str, list[Exposure]] = {}
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()  # one write at a time, in queue order
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._written = self.dropped = self.failures = 0
        self._thread = threading.Thread(target=self._run, name="exposure-writer", daemon=True)
        if background:
            self._thread.start()

    def submit(self, exposure: Exposure) -> None:
        with self._lock:
            if len(self._queue) == self._queue.maxlen:
                self.dropped += 1
                old = self._queue[0]
                self._forget(old)
            self._queue.append(exposure)
            self._pending.setdefault(exposure.recommendation_id, []).append(exposure)
            full = len(self._queue) >= self.max_batch
        if full:
            self._wake.set()

    def pending(self, recommendation_id: str) -> list[Exposure]:
        """Pages of ``recommendation_id`` not stored yet."""
        with self._lock:
            return list(self._pending.get(recommendation_id, ()))

    def flush(self) -> int:
        """Store everything queued now, ``max_batch`` per transaction, in queue order (what
        arrives meanwhile is stored too); returns how many were stored. A batch the store
        refuses goes back to the head of the queue and the flush stops (the next retries)."""
        total = 0
        while True:
            # One batch at a time under the flush lock: taken from the head and stored before
            # any other batch, and :meth:`store_now` can get in between two.
            with self._flush_lock:
                with self._lock:
                    batch = [
                        self._queue.popleft() for _ in range(min(len(self._queue), self.max_batch))
                    ]
                if not batch:
                    return total
                stored = self._write(batch)
                if stored is None:
                    return total
                total += stored

    def store_now(self, recommendation_id: str) -> int:
        """Store the queued pages of one recommendation at once, ahead of the rest of the
        queue: a page after the first is stored before it is sent, so that a process asked
        for the page after it finds it (the first page is waited for instead: see
        :func:`~tastemaker.service.routes.recommendations.PAGE_SETTLE_SECONDS`). Returns how
        many were stored; pages the store refuses stay queued, as in :meth:`flush`."""
        with self._flush_lock:
            with self._lock:
                pages = [e for e in self._queue if e.recommendation_id == recommendation_id]
                if not pages:
                    return 0
                rest = [e for e in self._queue if e.recommendation_id != recommendation_id]
                self._queue.clear()
                self._queue.extend(rest)
            return self._write(pages) or 0

    def _write(self, batch: list[Exposure]) -> int | None:
        """Store a batch taken off the queue (under the flush lock); ``None`` if it failed and
        went back to the head of the queue."""
        try:
            stored = self._store(batch)
        except Exception:
            log.exception("storing %d exposures failed; they are retried", len(batch))
            self._requeue(batch)
            self.failures += 1
            return None
        with self._lock:
            for exposure in batch:
                self._forget(exposure)
            self._written += stored
        return stored

    def counts(self) -> ExposureCounts:
        """Queued, written, dropped and failed, for the metrics."""
        return ExposureCounts(len(self._queue), self._written, self.dropped, self.failures)

    def _store(self, batch: list[Exposure]) -> int:
        try:
            self.store.exposures.log_many(batch)
            return len(batch)
        except (Conflict, InvalidInput):
            pass
        # One of them can never be stored (a reused id with other content): store the others
        # one by one and drop it, saying so, instead of retrying the batch for ever.
        stored = 0
        for exposure in batch:
            try:
                self.store.exposures.log(exposure)
                stored += 1
            except (Conflict, InvalidInput):
                log.exception("dropping exposure %s", exposure.recommendation_id)
                self.failures += 1
        return stored

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.ident is not None:  # started
            self._thread.join(timeout=30)
        self.flush()

    @property
    def written(self) -> int:
        return self._written

    def _requeue(self, batch: list[Exposure]) -> None:
        """Put a batch back at the head of the queue; if the queue cannot hold it as well,
        the oldest go (and are counted), as when a full queue takes a new exposure."""
        with self._lock:
            overflow = max(0, len(self._queue) + len(batch) - self.max_queue)
            for exposure in batch[:overflow]:
                self._forget(exposure)
                self.dropped += 1
            self._queue.extendleft(reversed(batch[overflow:]))

    def _forget(self, exposure: Exposure) -> None:
        pages = self._pending.get(exposure.recommendation_id)
        if pages is not None:
            # By identity: equality would compare every field of every page.
            pages[:] = [p for p in pages if p is not exposure]
            if not pages:
                del self._pending[exposure.recommendation_id]

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            if self._queue:
                self.flush()
