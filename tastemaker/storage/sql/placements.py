"""Placement configurations in SQL: every put and delete appends a row, so history stays.

A deletion is a row too (``deleted``, empty configuration), which makes the largest primary key
a revision number that grows with every change. On PostgreSQL writers take one advisory lock, so
rows commit in key order and a poller that saw revision ``n`` cannot later find a change below
``n`` committed after it looked.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from tastemaker.catalog.common import utcnow
from tastemaker.errors import FieldProblem, InvalidInput
from tastemaker.storage.base import PlacementRepository
from tastemaker.storage.sql.dialect import reject_nul
from tastemaker.storage.sql.engine import read, write
from tastemaker.storage.tables import placements as t

_LOCK_ID = 7_236_548_174  # serializes placement writers on PostgreSQL
_NAME_MAX = t.c.name.type.length  # type: ignore[attr-defined]


def _check(name: str, config: dict[str, Any]) -> None:
    if not 1 <= len(name) <= _NAME_MAX:
        raise InvalidInput(
            "invalid placement name",
            [FieldProblem("name", f"a placement name has 1 to {_NAME_MAX} characters")],
        )
    reject_nul("name", name)
    reject_nul("config", json.dumps(config), json=True)


def _latest(conn: Connection, name: str) -> Any | None:
    return conn.execute(
        sa.select(t.c.version, t.c.config, t.c.deleted)
        .where(t.c.name == name)
        .order_by(t.c.version.desc())
        .limit(1)
    ).first()


class SqlPlacements(PlacementRepository):
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def _append(
        self, name: str, config: dict[str, Any], now: datetime, *, deleted: bool = False
    ) -> int | None:
        """Store the next version of ``name``; ``None`` (nothing stored) when deleting a
        placement that is absent or deleted already."""
        with write(self._engine) as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_LOCK_ID)))
            last = _latest(conn, name)
            if deleted and (last is None or last.deleted):
                return None
            version = 1 if last is None else int(last.version) + 1
            conn.execute(
                t.insert(),
                {
                    "name": name,
                    "version": version,
                    "config": config,
                    "deleted": deleted,
                    "created_at": now,
                },
            )
        return version

    def put(self, name: str, config: dict[str, Any], now: datetime) -> int:
        _check(name, config)
        version = self._append(name, config, now)
        assert version is not None
        return version

    def get(self, name: str) -> tuple[int, dict[str, Any]] | None:
        with read(self._engine) as conn:
            last = _latest(conn, name)
        if last is None or last.deleted:
            return None
        return int(last.version), dict(last.config)

    def history(self, name: str) -> list[tuple[int, dict[str, Any] | None]]:
        query = (
            sa.select(t.c.version, t.c.config, t.c.deleted)
            .where(t.c.name == name)
            .order_by(t.c.version.desc())
        )
        with read(self._engine) as conn:
            return [
                (int(r.version), None if r.deleted else dict(r.config)) for r in conn.execute(query)
            ]

    def list(self) -> dict[str, tuple[int, dict[str, Any]]]:
        newest = (
            sa.select(t.c.name, sa.func.max(t.c.version).label("version"))
            .group_by(t.c.name)
            .subquery()
        )
        query = (
            sa.select(t.c.name, t.c.version, t.c.config)
            .join(newest, sa.and_(newest.c.name == t.c.name, newest.c.version == t.c.version))
            .where(t.c.deleted.is_(False))
            .order_by(t.c.name)
        )
        with read(self._engine) as conn:
            return {r.name: (int(r.version), dict(r.config)) for r in conn.execute(query)}

    def delete(self, name: str, now: datetime | None = None) -> bool:
        return self._append(name, {}, now or utcnow(), deleted=True) is not None

    def revision(self) -> int:
        with read(self._engine) as conn:
            return int(
                conn.execute(sa.select(sa.func.coalesce(sa.func.max(t.c.pk), 0))).scalar_one()
            )
