"""The event log in SQL: append-only, idempotent by ``event_id``."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from tastemaker.catalog.events import Event
from tastemaker.catalog.records import AppendResult, EventRecord
from tastemaker.errors import EventConflict
from tastemaker.storage.base import EventLog, HistoryRow
from tastemaker.storage.sql.driver import insert_rows, select_in, select_newest
from tastemaker.storage.sql.engine import read, read_one, write
from tastemaker.storage.sql.users import UserCodec, ensure_users
from tastemaker.storage.tables import events as t
from tastemaker.storage.tables import users
from tastemaker.storage.types import to_micros

_COLUMNS = (
    "event_id",
    "user_pk",
    "item_id",
    "type",
    "value",
    "ts",
    "channel",
    "context",
    "properties",
    "payload_hash",
    "received_at",
)
"""The columns ``SqlEvents._row`` fills, in its order (``seq`` is the database's)."""


def _stored(conn: Connection, ids: list[str]) -> dict[str, tuple[bytes, int]]:
    """``event_id → (payload_hash, received_at in microseconds)`` of the stored events among
    ``ids``."""
    rows = select_in(conn, "event_id, payload_hash, received_at", "events", "event_id", ids)
    return {eid: (bytes(h), int(at)) for eid, h, at in rows}


class SqlEvents(EventLog):
    def __init__(self, engine: Engine, codec: UserCodec) -> None:
        self._engine = engine
        self._codec = codec

    def append(self, events: Sequence[Event], now: datetime) -> AppendResult:
        hashes: dict[str, bytes] = {}
        unique: list[Event] = []
        for e in events:
            if e.event_id not in hashes:
                hashes[e.event_id] = e.payload_hash()
                unique.append(e)
        with write(self._engine) as conn:
            stored = {eid: h for eid, (h, _) in _stored(conn, list(hashes)).items()}
            conflicts = [eid for eid, h in stored.items() if h != hashes[eid]]
            if conflicts:
                raise EventConflict(sorted(conflicts))
            new = [e for e in unique if e.event_id not in stored]
            stored_here = len(new)
            if new:
                # Users are created in one order (sorted ids) by every transaction, so two that
                # create the same users take their row locks alike and cannot deadlock.
                users_here = sorted({e.user_id for e in new})
                keys = ensure_users(conn, self._codec, users_here, now)
                received = to_micros(now)
                rows = [self._row(e, keys[e.user_id], hashes[e.event_id], received) for e in new]
                insert_rows(conn, "events", _COLUMNS, rows, conflict="event_id")
                if conn.dialect.name != "sqlite":
                    # Another transaction may have stored some of these ids after the check above
                    # and ON CONFLICT skipped them: they conflict unless the payloads match, and
                    # are duplicates if they do. Rows stored here carry this request's time.
                    after = _stored(conn, [e.event_id for e in new])
                    late = [eid for eid, (h, _) in after.items() if h != hashes[eid]]
                    if late:
                        raise EventConflict(sorted(late))
                    stored_here = sum(at == received for _, at in after.values())
        return AppendResult(stored=stored_here, duplicates=len(events) - stored_here)

    @staticmethod
    def _row(e: Event, user_pk: int, payload_hash: bytes, received: int) -> tuple[Any, ...]:
        """The row in ``_COLUMNS`` order, as the column types would bind it: ``EpochMicros`` as
        integer microseconds, ``Json`` as JSON text."""
        return (
            e.event_id,
            user_pk,
            e.item_id,
            e.type,
            e.value,
            received if e.timestamp is None else to_micros(e.timestamp),
            e.channel,
            e.context.model_dump_json(exclude_none=True),
            json.dumps(e.properties) if e.properties else "{}",
            payload_hash,
            received,
        )

    def count(self) -> int:
        with read(self._engine) as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one())

    def _select(self) -> sa.Select[Any]:
        return sa.select(t, users.c.id_hash, users.c.external_id_enc).join(
            users, users.c.pk == t.c.user_pk
        )

    def _records(self, rows: Sequence[sa.Row[Any]]) -> list[EventRecord]:
        names: dict[int, str] = {}
        out = []
        for r in rows:
            m = r._mapping
            pk = m["user_pk"]
            if pk not in names:
                names[pk] = self._codec.external_id(m["id_hash"], m["external_id_enc"])
            out.append(
                EventRecord(
                    seq=m["seq"],
                    event_id=m["event_id"],
                    user_id=names[pk],
                    item_id=m["item_id"],
                    type=m["type"],
                    value=m["value"],
                    timestamp=m["ts"],
                    channel=m["channel"],
                    context=m["context"],
                    properties=m["properties"],
                    received_at=m["received_at"],
                )
            )
        return out

    def history(self, user_id: str, limit: int = 500) -> list[HistoryRow]:
        with read_one(self._engine) as conn:
            rows = select_newest(conn, self._codec.key(user_id), limit)
        return [HistoryRow(*r) for r in rows]

    def for_user(self, user_id: str, limit: int = 1000) -> list[EventRecord]:
        with read(self._engine) as conn:
            rows = conn.execute(
                self._select()
                .where(users.c.id_hash == self._codec.key(user_id))
                .order_by(t.c.ts.desc(), t.c.seq.desc())
                .limit(limit)
            ).all()
        return self._records(rows)

    def iterate(self, after_seq: int = 0, batch_size: int = 5000) -> Iterator[EventRecord]:
        last = after_seq
        while True:
            with read(self._engine) as conn:
                rows = conn.execute(
                    self._select().where(t.c.seq > last).order_by(t.c.seq).limit(batch_size)
                ).all()
            if not rows:
                return
            last = rows[-1]._mapping["seq"]
            yield from self._records(rows)

    def ids(self) -> set[str]:
        with read(self._engine) as conn:
            return set(conn.execute(sa.select(t.c.event_id)).scalars())
