"""Columnar reads of the whole store for training, straight into pandas."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tastemaker.catalog.columns import Columns
from tastemaker.catalog.users import Preferences
from tastemaker.storage.base import Snapshot
from tastemaker.storage.sql.engine import read
from tastemaker.storage.sql.users import UserCodec
from tastemaker.storage.tables import events as e
from tastemaker.storage.tables import items as i
from tastemaker.storage.tables import users as u

_CHUNK = 50_000


class SqlSnapshot(Snapshot):
    def __init__(self, engine: Engine, codec: UserCodec) -> None:
        self._engine = engine
        self._codec = codec

    def user_key(self, user_id: str) -> str:
        return self._codec.key(user_id).hex()

    def events(self, types: Sequence[str] | None = None, *, detail: bool = False) -> pd.DataFrame:
        # Raw columns (no type decorators): integers stay integers, no per-row conversion.
        columns: list[sa.ColumnElement[Any]] = [
            sa.type_coerce(u.c.id_hash, sa.LargeBinary),
            e.c.item_id,
            e.c.type,
            e.c.value,
            sa.type_coerce(e.c.ts, sa.BigInteger),
        ]
        names = [Columns.USER, Columns.ITEM, Columns.TYPE, Columns.VALUE, Columns.TIMESTAMP]
        if detail:
            columns += [
                e.c.event_id,
                e.c.channel,
                e.c.context["device"].as_string(),
                e.c.context["recommendation_id"].as_string(),
            ]
            names += [Columns.EVENT_ID, Columns.CHANNEL, Columns.DEVICE, Columns.RECOMMENDATION_ID]
        query = sa.select(*columns).join(u, u.c.pk == e.c.user_pk).order_by(e.c.seq)
        if not detail:
            query = query.where(e.c.item_id.is_not(None))
        if types is not None:
            query = query.where(e.c.type.in_(list(types)))
        parts: list[pd.DataFrame] = []
        keys: dict[bytes, str] = {}
        with read(self._engine) as conn:
            result = conn.execution_options(stream_results=True, yield_per=_CHUNK).execute(query)
            for rows in result.partitions(_CHUNK):
                cols = list(zip(*rows, strict=True))
                # The user key is the stored pseudonym itself: no decryption, no re-hashing.
                cols[0] = tuple(
                    keys.get(bytes(h)) or keys.setdefault(bytes(h), bytes(h).hex()) for h in cols[0]
                )
                frame = pd.DataFrame(dict(zip(names, cols, strict=True)))
                frame[Columns.VALUE] = pd.to_numeric(frame[Columns.VALUE]).astype(np.float64)
                frame[Columns.TIMESTAMP] = frame[Columns.TIMESTAMP].astype(np.int64)
                parts.append(frame)
        if not parts:
            empty = {n: pd.Series(dtype=object) for n in names}
            empty[Columns.VALUE] = pd.Series(dtype=np.float64)
            empty[Columns.TIMESTAMP] = pd.Series(dtype=np.int64)
            return pd.DataFrame(empty)
        return pd.concat(parts, ignore_index=True)

    def preferences(self) -> dict[str, Preferences]:
        # Preferences are stored in clear: no user id is decrypted to read them.
        query = sa.select(sa.type_coerce(u.c.id_hash, sa.LargeBinary), u.c.preferences)
        out: dict[str, Preferences] = {}
        with read(self._engine) as conn:
            for id_hash, prefs in conn.execute(query):
                parsed = Preferences.model_validate(prefs)
                if parsed.tags or parsed.authors or parsed.sources:
                    out[bytes(id_hash).hex()] = parsed
        return out

    def items(self) -> pd.DataFrame:
        cols = ["title", "summary", "text", "tags", "author", "source", "recommendable"]
        query = sa.select(
            i.c.external_id,
            *(i.c[c] for c in cols),
            sa.type_coerce(i.c.published_at, sa.BigInteger).label("published_at"),
            sa.type_coerce(i.c.expires_at, sa.BigInteger).label("expires_at"),
        ).order_by(i.c.pk)
        with read(self._engine) as conn:
            rows = conn.execute(query).all()
        frame = pd.DataFrame(rows, columns=["id", *cols, "published_at", "expires_at"]).set_index(
            "id"
        )
        for col in ("published_at", "expires_at"):
            frame[col] = frame[col].fillna(-1).astype(np.int64)
        frame["recommendable"] = frame["recommendable"].astype(bool)
        return frame
