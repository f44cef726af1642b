"""Prometheus metrics of one API process, on its own registry (many apps can live in a test).

Every series (``tastemaker_`` prefix):

================================================  =========  ================================
name                                              type       labels
================================================  =========  ================================
``http_request_duration_seconds``                 histogram  route (template), method, status
``recommendation_duration_seconds``               histogram  placement
``cache_lookups_total``                           counter    placement, result (hit|miss|error)
``fallbacks_total``                               counter    placement, reason
``model_version``                                 gauge      model
``events_ingested_total``                         counter
``cache_available``, ``cache_entries``            gauge
``exposures_queued``                              gauge
``exposures_written_total``                       counter
``exposures_dropped_total``                       counter
``exposure_write_failures_total``                 counter
================================================  =========  ================================

``route`` is the route's template (``/v1/users/{user_id}/profile``), never the raw path,
``status`` a class (``2xx``) and an unusual ``method`` is ``other``, so the number of series
stays bounded whatever clients send.

Examples
--------
>>> metrics = ServiceMetrics()
>>> metrics.observe_request("/v1/items/{item_id}", "GET", 200, 0.004)
>>> metrics.cache_hit("homepage")
>>> payload, content_type = metrics.render()
>>> b'tastemaker_cache_lookups_total{placement="homepage",result="hit"} 1.0' in payload
True
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import NamedTuple

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder

LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
"""Seconds: the read path lives in milliseconds, batch writes and training calls in seconds."""

_STATUS_CLASSES = {1: "1xx", 2: "2xx", 3: "3xx", 4: "4xx", 5: "5xx"}
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class ExposureCounts(NamedTuple):
    """The exposure writer's state: waiting, stored, dropped (queue full) and failed writes."""

    queued: int
    written: int
    dropped: int
    failures: int


class _ExposureCollector:
    """The exposure log's series, read from the writer at each scrape."""

    def __init__(self, counts: Callable[[], ExposureCounts]) -> None:
        self._counts = counts

    def collect(self) -> Iterator[Metric]:
        c = self._counts()
        yield GaugeMetricFamily(
            "tastemaker_exposures_queued",
            "Exposures (answers shown) waiting to be stored; a backlog that keeps growing "
            "means the store cannot keep up",
            value=c.queued,
        )
        yield CounterMetricFamily(
            "tastemaker_exposures_written", "Exposures stored in the exposure log", value=c.written
        )
        yield CounterMetricFamily(
            "tastemaker_exposures_dropped",
            "Exposures dropped unstored because the queue was full",
            value=c.dropped,
        )
        yield CounterMetricFamily(
            "tastemaker_exposure_write_failures",
            "Batches of exposures the store failed to take (retried)",
            value=c.failures,
        )


class ServiceMetrics:
    """The metrics the service records, and their exposition.

    Parameters
    ----------
    registry
        Where the series live; a new one by default (never the process-global registry).
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self._requests = Histogram(
            "tastemaker_http_request_duration_seconds",
            "Time from a request's arrival to the end of its response, by route template",
            ["route", "method", "status"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self._recommendations = Histogram(
            "tastemaker_recommendation_duration_seconds",
            "Time to answer one recommendation request, by placement",
            ["placement"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self._cache = Counter(
            "tastemaker_cache_lookups",
            "Recommendation cache lookups by placement and result (hit, miss, error)",
            ["placement", "result"],
            registry=r,
        )
        self._fallbacks = Counter(
            "tastemaker_fallbacks",
            "Non-personalized answers given instead of the placement's, by reason",
            ["placement", "reason"],
            registry=r,
        )
        self._models = Gauge(
            "tastemaker_model_version",
            "Version of each model this process serves",
            ["model"],
            registry=r,
        )
        self._events = Counter(
            "tastemaker_events_ingested", "Events stored (retries not counted)", registry=r
        )
        self._cache_available = Gauge(
            "tastemaker_cache_available",
            "1 while the recommendation cache works, 0 while its backend fails",
            registry=r,
        )
        self._cache_entries = Gauge(
            "tastemaker_cache_entries",
            "Entries the in-process recommendation cache holds (stale ones included)",
            registry=r,
        )
        # Children by labels: labels() validates and locks on every call; requests are hot.
        self._request_children: dict[tuple[str, str, str], Histogram] = {}
        self._recommendation_children: dict[str, Histogram] = {}
        self._cache_children: dict[tuple[str, str], Counter] = {}
        self._exposures: _ExposureCollector | None = None

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        """Record one HTTP request under its route template and status class."""
        key = (
            route,
            method if method in _METHODS else "other",
            _STATUS_CLASSES.get(status // 100, "other"),
        )
        child = self._request_children.get(key)
        if child is None:
            child = self._request_children[key] = self._requests.labels(*key)
        child.observe(seconds)

    def observe_recommendation(self, placement: str, seconds: float) -> None:
        """Record the time one recommendation request of ``placement`` took."""
        child = self._recommendation_children.get(placement)
        if child is None:
            child = self._recommendation_children[placement] = self._recommendations.labels(
                placement
            )
        child.observe(seconds)

    def cache_hit(self, placement: str) -> None:
        self._cache_lookup(placement, "hit")

    def cache_miss(self, placement: str) -> None:
        self._cache_lookup(placement, "miss")

    def cache_error(self, placement: str) -> None:
        """A lookup the cache's backend failed (answered as a miss)."""
        self._cache_lookup(placement, "error")

    def _cache_lookup(self, placement: str, result: str) -> None:
        key = (placement, result)
        child = self._cache_children.get(key)
        if child is None:
            child = self._cache_children[key] = self._cache.labels(*key)
        child.inc()

    def fallback(self, placement: str, reason: str) -> None:
        """A non-personalized answer; ``reason`` is a short fixed word (``model_missing`` …)."""
        self._fallbacks.labels(placement, reason).inc()

    def model_version(self, name: str, version: int) -> None:
        """The version of model ``name`` now served (after a load or a hot swap)."""
        self._models.labels(name).set(version)

    def events_ingested(self, n: int) -> None:
        if n > 0:
            self._events.inc(n)

    def cache_state(self, available: bool, entries: int | None) -> None:
        """The cache's state, set before each scrape."""
        self._cache_available.set(1 if available else 0)
        if entries is not None:
            self._cache_entries.set(entries)

    def watch_exposures(self, counts: Callable[[], ExposureCounts]) -> None:
        """Report the exposure writer's state (``counts`` is read at each scrape); replaces
        the writer watched before (an app started again has a new one)."""
        if self._exposures is not None:
            self.registry.unregister(self._exposures)
        self._exposures = _ExposureCollector(counts)
        self.registry.register(self._exposures)

    def render(self, accept: str = "") -> tuple[bytes, str]:
        """The exposition and its content type, in the format the ``Accept`` header asks for:
        OpenMetrics if asked, else the Prometheus text format 0.0.4 that every scraper reads."""
        encode, content_type = choose_encoder(accept)
        return encode(self.registry), content_type
