"""The one place that turns exceptions into HTTP responses."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from tastemaker.errors import FieldProblem, TastemakerError

log = logging.getLogger(__name__)
_BATCH_KEYS = ("events", "items", "users")


def error_json(
    status: int,
    code: str,
    message: str,
    headers: dict[str, str] | None = None,
    **details: Any,
) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    body.update({k: v for k, v in details.items() if v is not None})
    return JSONResponse(status_code=status, content={"error": body}, headers=headers)


def problems_from_validation(errors: Any) -> list[FieldProblem]:
    """FastAPI's error locations as (row index, field, reason)."""
    out = []
    for err in errors:
        loc = [str(p) if not isinstance(p, int) else p for p in err.get("loc", ())]
        where, rest = (loc[0], loc[1:]) if loc else ("body", [])
        index: int | None = None
        if (
            where == "body"
            and len(rest) >= 2
            and rest[0] in _BATCH_KEYS
            and isinstance(rest[1], int)
        ):
            index, rest = rest[1], rest[2:]
        if err.get("type") == "json_invalid":
            rest = []
        field = ".".join(str(p) for p in rest) or str(where)
        if where in ("path", "query", "header"):
            field = f"{where}.{field}"
        reason = str(err.get("msg", "invalid"))
        if err.get("type") == "json_invalid":
            reason = "the body is not valid JSON: " + str(err.get("ctx", {}).get("error", reason))
        out.append(FieldProblem(field=field, reason=reason, index=index))
    return out


def _allowed_methods(request: Request) -> list[str]:
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches(request.scope)
        if match != Match.NONE:
            methods.update(getattr(route, "methods", None) or ())
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)


def install(app: FastAPI) -> None:
    @app.exception_handler(TastemakerError)
    async def _tastemaker(_: Request, exc: TastemakerError) -> JSONResponse:
        if exc.status_code >= 500:
            log.error("request failed: %s", exc.message)
        return error_json(exc.status_code, exc.code, exc.message, **exc.details())

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = problems_from_validation(exc.errors())
        rows = {p.index for p in problems if p.index is not None}
        message = (
            f"{len(rows)} row(s) of the batch are invalid; nothing was stored"
            if rows
            else "the request is invalid; nothing was changed"
        )
        return error_json(422, "validation_error", message, errors=[p.as_dict() for p in problems])

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: "not_found", 405: "method_not_allowed", 400: "bad_request"}
        if exc.status_code == 405:
            # Starlette names only the first matching route's methods; list every route's.
            allowed = _allowed_methods(request)
            return error_json(
                405,
                "method_not_allowed",
                f"{request.method} is not allowed here; use {', '.join(allowed)}",
                headers={"Allow": ", ".join(allowed)},
            )
        return error_json(
            exc.status_code,
            codes.get(exc.status_code, "http_error"),
            str(exc.detail),
            headers=dict(exc.headers) if exc.headers else None,
        )

    @app.exception_handler(OperationalError)
    async def _db(_: Request, exc: OperationalError) -> JSONResponse:
        log.error("database error: %s", exc)
        return error_json(503, "storage_unavailable", "the database is unavailable; retry later")
