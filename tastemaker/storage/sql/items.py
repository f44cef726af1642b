"""Items in SQL."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tastemaker.catalog.items import Item
from tastemaker.catalog.records import ItemRecord, UpsertResult
from tastemaker.storage.base import ItemRepository
from tastemaker.storage.sql.dialect import chunks
from tastemaker.storage.sql.engine import read, write
from tastemaker.storage.tables import items as t

_FIELDS = (
    "title",
    "summary",
    "text",
    "tags",
    "author",
    "source",
    "published_at",
    "expires_at",
    "properties",
    "recommendable",
)


def _row(item: Item) -> dict[str, Any]:
    data = item.model_dump(include=set(_FIELDS))
    data["external_id"] = item.id
    return data


def _record(row: sa.Row[Any]) -> ItemRecord:
    m = row._mapping
    return ItemRecord(
        id=m["external_id"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
        **{f: m[f] for f in _FIELDS},
    )


class SqlItems(ItemRepository):
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def upsert(self, items: Sequence[Item], now: datetime) -> UpsertResult:
        # The last occurrence of an id in a batch wins, as if the items were sent one by one.
        latest = {item.id: item for item in items}
        with write(self._engine) as conn:
            existing: set[str] = set()
            for part in chunks(list(latest)):
                existing.update(
                    conn.execute(
                        sa.select(t.c.external_id).where(t.c.external_id.in_(part))
                    ).scalars()
                )
            new = [
                {**_row(i), "created_at": now, "updated_at": now}
                for i in latest.values()
                if i.id not in existing
            ]
            if new:
                conn.execute(t.insert(), new)
            old = [
                {**_row(i), "b_id": i.id, "updated_at": now}
                for i in latest.values()
                if i.id in existing
            ]
            if old:
                # Parameters named like columns become the SET clause.
                stmt = t.update().where(t.c.external_id == sa.bindparam("b_id"))
                conn.execute(
                    stmt, [{k: v for k, v in r.items() if k != "external_id"} for r in old]
                )
        return UpsertResult(created=len(new), updated=len(old))

    def get(self, item_id: str) -> ItemRecord | None:
        with read(self._engine) as conn:
            row = conn.execute(sa.select(t).where(t.c.external_id == item_id)).first()
        return _record(row) if row else None

    def get_many(self, item_ids: Sequence[str]) -> list[ItemRecord]:
        out: list[ItemRecord] = []
        with read(self._engine) as conn:
            for part in chunks(list(dict.fromkeys(item_ids))):
                rows = conn.execute(sa.select(t).where(t.c.external_id.in_(part))).all()
                out.extend(_record(r) for r in rows)
        return out

    def delete(self, item_id: str) -> bool:
        with write(self._engine) as conn:
            return conn.execute(t.delete().where(t.c.external_id == item_id)).rowcount > 0

    def count(self) -> int:
        with read(self._engine) as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one())

    def iterate(self, batch_size: int = 1000) -> Iterator[ItemRecord]:
        last = 0
        while True:
            with read(self._engine) as conn:
                rows = conn.execute(
                    sa.select(t).where(t.c.pk > last).order_by(t.c.pk).limit(batch_size)
                ).all()
            if not rows:
                return
            last = rows[-1]._mapping["pk"]
            yield from (_record(r) for r in rows)
