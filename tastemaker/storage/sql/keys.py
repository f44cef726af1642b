"""API keys in SQL. A key is ``tm_<prefix>_<secret>``; only SHA-256 of the whole key is kept.

Keys are 256-bit random values, so a fast hash suffices: there is nothing to brute-force.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tastemaker.storage.base import ApiKey, KeyRepository
from tastemaker.storage.sql.engine import read, write
from tastemaker.storage.tables import api_keys as t


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def _record(m: Any) -> ApiKey:
    return ApiKey(
        prefix=m["prefix"],
        name=m["name"],
        scopes=frozenset(m["scopes"]),
        created_at=m["created_at"],
        revoked_at=m["revoked_at"],
    )


class SqlKeys(KeyRepository):
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def create(self, name: str, scopes: Sequence[str], now: datetime) -> tuple[str, ApiKey]:
        prefix = secrets.token_hex(6)
        secret = f"tm_{prefix}_{secrets.token_urlsafe(32)}"
        row = {
            "prefix": prefix,
            "key_hash": _digest(secret),
            "name": name,
            "scopes": sorted(set(scopes)),
            "created_at": now,
            "revoked_at": None,
        }
        with write(self._engine) as conn:
            conn.execute(t.insert(), row)
        return secret, _record(row)

    def verify(self, secret: str) -> ApiKey | None:
        parts = secret.split("_", 2)
        if len(parts) != 3 or parts[0] != "tm":
            return None
        with read(self._engine) as conn:
            row = conn.execute(sa.select(t).where(t.c.prefix == parts[1])).first()
        if row is None or row._mapping["revoked_at"] is not None:
            return None
        if not hmac.compare_digest(bytes(row._mapping["key_hash"]), _digest(secret)):
            return None
        return _record(row._mapping)

    def list(self) -> list[ApiKey]:
        with read(self._engine) as conn:
            return [_record(r._mapping) for r in conn.execute(sa.select(t).order_by(t.c.pk))]

    def revoke(self, prefix: str, now: datetime) -> bool:
        with write(self._engine) as conn:
            res = conn.execute(
                t.update()
                .where(t.c.prefix == prefix, t.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )
            return res.rowcount > 0

    def any_active(self) -> bool:
        with read(self._engine) as conn:
            return (
                conn.execute(sa.select(t.c.pk).where(t.c.revoked_at.is_(None)).limit(1)).first()
                is not None
            )
