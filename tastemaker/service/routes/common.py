"""Helpers shared by the routers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

from tastemaker.catalog.common import ID_PATTERN
from tastemaker.errors import FieldProblem, InvalidInput, PayloadTooLarge

IdPath = Annotated[str, Path(min_length=1, max_length=256, pattern=ID_PATTERN)]


def same_id(path_id: str, body_id: str) -> None:
    if path_id != body_id:
        raise InvalidInput(
            "the id in the body differs from the id in the path",
            [FieldProblem(field="id", reason=f"must equal the path id {path_id!r}")],
        )


def check_batch_size(rows: str, size: int, limit: int) -> None:
    """413 for a batch of ``size`` rows (named ``rows``: events, items, users) over ``limit``."""
    if size > limit:
        raise PayloadTooLarge(
            f"{rows}: a batch holds at most {limit} {rows}, this one has {size}; split it"
        )
