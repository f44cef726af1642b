"""``/metrics``: the Prometheus exposition of this process.

Not authenticated, like ``/healthz``: Prometheus scrapes without credentials and the series
hold no personal data (route templates, placement and model names, counts). They do reveal
traffic volumes, so keep ``/metrics`` off the public internet (block it at the load balancer or
proxy, which usually exposes ``/v1/`` only). Left out of the OpenAPI schema: it is for
operators, not API clients.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from tastemaker.serving.cache import RecommendationCache
from tastemaker.serving.metrics import ServiceMetrics

router = APIRouter(tags=["health"])


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    service_metrics: ServiceMetrics = request.app.state.metrics
    cache: RecommendationCache = request.app.state.cache
    service_metrics.cache_state(cache.available, cache.entries())
    payload, content_type = service_metrics.render(request.headers.get("accept", ""))
    return Response(payload, media_type=content_type)
