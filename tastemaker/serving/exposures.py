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
        Queue length that triggers a write at once.
    max_queue
        Exposures kept while the store fails; beyond it the oldest are dropped (and counted).
    """

    def __init__(
        self,
        store: DataStore,
        flush_seconds: float = 0.2,
        max_batch: int = 200,
        max_queue: int = 100_000,
    ) -> None:
        self.store = store
        self.flush_seconds = flush_seconds
        self.max_batch = max_batch
        self._queue: deque[Exposure] = deque(maxlen=max_queue)
        self._pending: dict[str, list[Exposure]] = {}
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()  # one write at a time, in queue order
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._written = self.dropped = self.failures = 0
        self._thread = threading.Thread(target=self._run, name="exposure-writer", daemon=True)
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
        """Store everything queued now (one transaction); returns how many were stored."""
        with self._flush_lock:
            with self._lock:
                batch = list(self._queue)
                self._queue.clear()
            if not batch:
                return 0
            try:
                stored = self._store(batch)
            except Exception:
                log.exception("storing %d exposures failed; they are retried", len(batch))
                with self._lock:
                    self._queue.extendleft(reversed(batch))
                self.failures += 1
                return 0
            with self._lock:
                for exposure in batch:
                    self._forget(exposure)
                self._written += stored
            return stored

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
        self._thread.join(timeout=30)
        self.flush()

    @property
    def written(self) -> int:
        return self._written

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
