"""Parsing a batch row by row, so one response can name every bad row."""

from __future__ import annotations

import json
from functools import cache
from types import GenericAlias
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from tastemaker.errors import FieldProblem, InvalidInput

M = TypeVar("M", bound=BaseModel)


def _problems(exc: ValidationError, index: int | None) -> list[FieldProblem]:
    return [
        FieldProblem(
            field=".".join(str(p) for p in e["loc"]) or "(row)", reason=e["msg"], index=index
        )
        for e in exc.errors(include_url=False)
    ]


@cache
def _envelope(key: str, model: type[M]) -> type[BaseModel]:
    """``{"<key>": [row, …]}`` as one model: a valid body is validated in one pass from JSON."""
    fields: dict[str, Any] = {key: (GenericAlias(list, model), Field(min_length=1))}
    return create_model(f"{model.__name__}Batch", __config__=ConfigDict(extra="forbid"), **fields)


def parse_rows(
    body: bytes, key: str, model: type[M]
) -> tuple[list[tuple[int, M]], list[FieldProblem]]:
    """Parse ``{"<key>": [row, …]}``; return the valid rows by index and every row's problems.

    A problem with the envelope (not JSON, not an object, no list) raises at once.

    >>> from tastemaker.catalog.events import Event
    >>> rows, problems = parse_rows(b'{"events": [{"event_id": "e"}]}', "events", Event)
    >>> sorted(p.field for p in problems)
    ['type', 'user_id']
    """
    try:
        envelope = _envelope(key, model).model_validate_json(body)
    except ValidationError:
        pass  # Something is wrong: the row-by-row path below names every problem.
    else:
        return list(enumerate(getattr(envelope, key))), []
    try:
        data: Any = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput(
            "the body is not valid JSON", [FieldProblem(field="body", reason=str(exc))]
        ) from exc
    if not isinstance(data, dict):
        raise InvalidInput(
            "the body must be a JSON object",
            [FieldProblem(field="body", reason=f'expected {{"{key}": [...]}}')],
        )
    extra = sorted(set(data) - {key})
    problems = [FieldProblem(field=k, reason="unknown field") for k in extra]
    rows = data.get(key)
    if not isinstance(rows, list) or not rows:
        problems.append(FieldProblem(field=key, reason="must be a non-empty list"))
    if problems:
        raise InvalidInput("the request envelope is invalid; nothing was stored", problems)
    assert isinstance(rows, list)
    parsed: list[tuple[int, M]] = []
    for i, row in enumerate(rows):
        try:
            parsed.append((i, model.model_validate(row)))
        except ValidationError as exc:
            problems.extend(_problems(exc, i))
    return parsed, problems
