"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect

from tastemaker.catalog.common import to_utc

PrimaryKey = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
"""64-bit keys on PostgreSQL; SQLite's INTEGER PRIMARY KEY is its 64-bit rowid."""

Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


class EpochMicros(sa.TypeDecorator[datetime]):
    """A UTC datetime stored as integer microseconds since the epoch.

    Integers sort, compare and bulk-load fast on every backend and cannot lose a time zone.
    """

    impl = sa.BigInteger
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> int | None:
        if value is None:
            return None
        return to_micros(value)

    def process_result_value(self, value: Any | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return from_micros(int(value))


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_micros(value: datetime) -> int:
    delta = to_utc(value) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(value: int) -> datetime:
    from datetime import timedelta

    return _EPOCH + timedelta(microseconds=value)
