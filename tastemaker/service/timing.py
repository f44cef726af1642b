"""Request timing: every HTTP request observed under its route template."""

from __future__ import annotations

import time
from typing import Any

from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tastemaker.serving.metrics import ServiceMetrics

UNMATCHED = "unmatched"
"""The route label of requests no route matches (404s): raw paths would be unbounded."""


def route_template(scope: Scope) -> str:
    """The template of the route that served (or would have served) a request.

    The router records the route it chose in the scope; a request answered before routing (a
    body over the limit) is matched here against the app's routes.
    """
    route: Any = scope.get("route")
    if route is None:
        app: Any = scope.get("app")
        for candidate in getattr(getattr(app, "router", None), "routes", ()):
            match, _ = candidate.matches(scope)
            if match is not Match.NONE:
                route = candidate
                break
        else:
            return UNMATCHED
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED


class RequestMetrics:
    """Pure ASGI middleware timing each request until its response is sent.

    Install it outermost, so it also times what the other middleware answer (413, …). A
    request whose app raised counts as a 500.
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
