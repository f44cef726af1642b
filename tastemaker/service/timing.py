"""Request timing: every HTTP request observed under its route template."""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tastemaker.serving.metrics import ServiceMetrics

UNMATCHED = "unmatched"
"""The route label of requests no route served: 404s, and bodies refused before routing (413).
Raw paths would make the series unbounded."""


def route_template(scope: Scope) -> str:
    """The template of the route that served a request (``/v1/items/{item_id}``), which the
    router records in the scope, or :data:`UNMATCHED`."""
    route = scope.get("route")
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED


class RequestMetrics:
    """Pure ASGI middleware timing each request until its response is sent.

    Install it outermost, so it also times what the other middleware answer (413, …). A
    request whose app raised counts as a 500. Websockets and lifespan pass through untimed.
    """

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            self.metrics.observe_request(
                route_template(scope), scope["method"], status, time.perf_counter() - started
            )
