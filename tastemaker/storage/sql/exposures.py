"""The exposure log in SQL: one ``exposures`` row per page, one ``exposure_items`` row per item.

Logging is on the read path of every recommendation, so the rows go to the driver's cursor as
ready-made tuples (see ``driver``): one statement for the page, one ``executemany`` for its items.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from pydantic_core import to_json
from sqlalchemy.engine import Connection, Engine

from tastemaker.catalog.columns import Columns
from tastemaker.catalog.exposures import ExposedItem, Exposure, features_json
from tastemaker.errors import Conflict
from tastemaker.storage.base import ExposureLog
from tastemaker.storage.sql.dialect import reject_nul
from tastemaker.storage.sql.driver import (
    insert_many_returning,
    insert_rows,
    next_key,
    select_in,
)
from tastemaker.storage.sql.engine import read, write
from tastemaker.storage.sql.users import UserCodec, ensure_users
from tastemaker.storage.tables import exposure_items as xi
from tastemaker.storage.tables import exposures as x
from tastemaker.storage.tables import users as u
from tastemaker.storage.types import to_micros

_CHUNK = 50_000

_HEADER = (
    "recommendation_id",
    "page",
    "user_pk",
    "placement",
    "created_at",
    "models",
    "context",
    "experiment",
    "arm",
    "fallback",
    "content_hash",
)
_ITEM = (
    "exposure_pk",
    "position",
    "user_pk",
    "item_id",
    "score",
    "source",
    "propensity",
    "features",
)

_SHOWN = ("item_id", "position", "score", "source", "propensity")
"""The ``ExposedItem`` fields stored in ``exposure_items`` columns of the same names."""

_FRAME = {
    Columns.RECOMMENDATION_ID: x.c.recommendation_id,
    Columns.USER: sa.type_coerce(u.c.id_hash, sa.LargeBinary),
    Columns.ITEM: xi.c.item_id,
    Columns.TIMESTAMP: sa.type_coerce(x.c.created_at, sa.BigInteger),
    Columns.PLACEMENT: x.c.placement,
    Columns.PAGE: x.c.page,
    Columns.POSITION: xi.c.position,
    Columns.SCORE: xi.c.score,
    Columns.SOURCE: xi.c.source,
    Columns.PROPENSITY: xi.c.propensity,
    Columns.EXPERIMENT: x.c.experiment,
    Columns.ARM: x.c.arm,
    # As text, parsed in one call per chunk: per-row JSON decoding costs more than the query.
    Columns.FEATURES: sa.cast(xi.c.features, sa.Text),
}
"""The columns of :meth:`SqlExposures.frame` and what each is read from."""

_INTEGERS = (Columns.TIMESTAMP, Columns.PAGE, Columns.POSITION)
_FLOATS = (Columns.SCORE, Columns.PROPENSITY)


def _json(value: Any) -> str:
    # NaN becomes null: JSON has no NaN and PostgreSQL rejects it.
    return to_json(value, inf_nan_mode="null").decode()


def _features(stored: dict[str, float | None]) -> dict[str, float]:
    """Stored features as floats: JSON nulls are NaN, and PostgreSQL's JSONB, which keeps
    numbers as decimals, may give back ``3.6e16`` as the integer ``36000000000000000``."""
    return {k: math.nan if v is None else float(v) for k, v in stored.items()}


def _parse_features(texts: Sequence[str]) -> list[dict[str, float]]:
    """Features stored as JSON text, all parsed at once (integers as floats, nulls as NaN)."""
    parsed: list[dict[str, Any]] = json.loads("[" + ",".join(texts) + "]", parse_int=float)
    return [_features(f) if None in f.values() else f for f in parsed]


def _check_text(e: Exposure, json_texts: list[str]) -> None:
    texts = [e.recommendation_id, e.placement, e.experiment or "", e.arm or "", e.fallback or ""]
    texts += [i.item_id + (i.source or "") for i in e.items]
    reject_nul("exposure", "".join(texts))
    reject_nul("exposure", "".join(json_texts), json=True)


class SqlExposures(ExposureLog):
    def __init__(self, engine: Engine, codec: UserCodec) -> None:
        self._engine = engine
        self._codec = codec

    def log(self, exposure: Exposure) -> None:
        self.log_many([exposure])

    def log_many(self, exposures: Sequence[Exposure]) -> None:
        prepared: dict[tuple[str, int], tuple[Exposure, list[str], bytes, str, str]] = {}
        for exposure in exposures:
            features = [features_json(i) for i in exposure.items]
            models, context = _json(exposure.models), _json(exposure.context)
            _check_text(exposure, [models, context, *features])
            digest = exposure.content_hash(features)
            key = (exposure.recommendation_id, exposure.page)
            if key in prepared and prepared[key][2] != digest:
                raise Conflict(
                    f"page {key[1]} of recommendation {key[0]!r} appears twice with other content"
                )
            prepared[key] = (exposure, features, digest, models, context)
        if not prepared:
            return
        with write(self._engine) as conn:
            # A server logs its responses in batches: a few statements per batch, not per page.
            rids = sorted({rid for rid, _ in prepared})
            stored = {
                (rid, int(page)): bytes(h)
                for rid, page, h in select_in(
                    conn,
                    "recommendation_id, page, content_hash",
                    "exposures",
                    "recommendation_id",
                    rids,
                )
            }
            new = []
            for key, (_, _, digest, _, _) in prepared.items():
                if key in stored:
                    if stored[key] != digest:
                        raise Conflict(
                            f"page {key[1]} of recommendation {key[0]!r} is already logged with "
                            "other content; log each page once, or use a new recommendation id"
                        )
                    continue
                new.append(key)
            if not new:
                return
            users = sorted({prepared[k][0].user_id for k in new})
            first = min(prepared[k][0].created_at for k in new)
            user_pks = ensure_users(conn, self._codec, users, first)
            headers = []
            for key in new:
                exposure, _, digest, models, context = prepared[key]
                headers.append(
                    (
                        exposure.recommendation_id,
                        exposure.page,
                        user_pks[exposure.user_id],
                        exposure.placement,
                        to_micros(exposure.created_at),
                        models,
                        context,
                        exposure.experiment,
                        exposure.arm,
                        exposure.fallback,
                        digest,
                    )
                )
            pks = self._insert_headers(conn, new, headers)
            rows = [
                (
                    pks[key],
                    i.position,
                    user_pks[exposure.user_id],
                    i.item_id,
                    i.score,
                    i.source,
                    i.propensity,
                    f,
                )
                for key in pks
                for exposure, features, _, _, _ in [prepared[key]]
                for i, f in zip(exposure.items, features, strict=True)
            ]
            if rows:
                insert_rows(conn, "exposure_items", _ITEM, rows)

    def _insert_headers(
        self,
        conn: Connection,
        keys: list[tuple[str, int]],
        headers: list[tuple[Any, ...]],
    ) -> dict[tuple[str, int], int]:
        """Insert the pages' header rows; the key of each one inserted (a page a concurrent
        transaction logged meanwhile is checked to be the same instead)."""
        if conn.dialect.name == "sqlite":
            # This transaction holds SQLite's one write lock and none of ``keys`` is stored:
            # nothing can take the numbers meanwhile, and no RETURNING row has to be fetched.
            first = next_key(conn, "exposures")
            pks = {key: first + n for n, key in enumerate(keys)}
            insert_rows(
                conn,
                "exposures",
                ("pk", *_HEADER),
                [(pks[key], *h) for key, h in zip(keys, headers, strict=True)],
            )
            return pks
        inserted = {
            (rid, int(page)): int(pk)
            for rid, page, pk in insert_many_returning(
                conn,
                "exposures",
                _HEADER,
                headers,
                "recommendation_id, page",
                "recommendation_id, page, pk",
            )
        }
        for key, header in zip(keys, headers, strict=True):
            if key not in inserted:  # logged by a concurrent transaction since the check
                self._check_same(conn, key, header[-1])  # its content hash
        return {key: inserted[key] for key in keys if key in inserted}

    @staticmethod
    def _check_same(conn: Connection, key: tuple[str, int], digest: bytes) -> None:
        rid, page = key
        stored = select_in(conn, "page, content_hash", "exposures", "recommendation_id", [rid])
        found = [bytes(h) for p, h in stored if p == page]
        if found and found[0] != digest:
            raise Conflict(
                f"page {page} of recommendation {rid!r} is already logged with other content; "
                "log each page once, or use a new recommendation id"
            )

    def get(self, recommendation_id: str) -> list[Exposure]:
        query = (
            sa.select(x, u.c.id_hash, u.c.external_id_enc)
            .join(u, u.c.pk == x.c.user_pk)
            .where(x.c.recommendation_id == recommendation_id)
            .order_by(x.c.page)
        )
        with read(self._engine) as conn:
            pages = conn.execute(query).all()
            if not pages:
                return []
            items: dict[int, list[ExposedItem]] = {p._mapping["pk"]: [] for p in pages}
            rows = conn.execute(
                sa.select(xi.c.exposure_pk, *(xi.c[c] for c in _SHOWN), _FRAME[Columns.FEATURES])
                .where(xi.c.exposure_pk.in_(list(items)))
                .order_by(xi.c.exposure_pk, xi.c.position)
            ).all()
        features = _parse_features([r[-1] for r in rows])
        for r, f in zip(rows, features, strict=True):
            # Validated when logged: rebuilt as stored, without validating again.
            shown = dict(zip(_SHOWN, r[1:-1], strict=True))
            items[r[0]].append(ExposedItem.model_construct(**shown, features=f))
        return [self._exposure(p._mapping, items[p._mapping["pk"]]) for p in pages]

    def _exposure(self, m: Any, items: list[ExposedItem]) -> Exposure:
        return Exposure(
            recommendation_id=m["recommendation_id"],
            user_id=self._codec.external_id(m["id_hash"], m["external_id_enc"]),
            placement=m["placement"],
            created_at=m["created_at"],
            page=m["page"],
            items=items,
            models=m["models"],
            context=m["context"],
            experiment=m["experiment"],
            arm=m["arm"],
            fallback=m["fallback"],
        )

    def shown_items(self, recommendation_id: str) -> set[str]:
        query = (
            sa.select(xi.c.item_id)
            .join(x, x.c.pk == xi.c.exposure_pk)
            .where(x.c.recommendation_id == recommendation_id)
        )
        with read(self._engine) as conn:
            return set(conn.execute(query).scalars())

    def frame(self, since: datetime | None = None, placement: str | None = None) -> pd.DataFrame:
        query = (
            sa.select(*_FRAME.values())
            .select_from(xi)
            .join(x, x.c.pk == xi.c.exposure_pk)
            .join(u, u.c.pk == x.c.user_pk)
            .order_by(x.c.pk, xi.c.position)
        )
        if since is not None:
            query = query.where(x.c.created_at >= since)
        if placement is not None:
            query = query.where(x.c.placement == placement)
        names = list(_FRAME)
        parts: list[pd.DataFrame] = []
        keys: dict[bytes, str] = {}
        with read(self._engine) as conn:
            result = conn.execution_options(stream_results=True, yield_per=_CHUNK).execute(query)
            for rows in result.partitions(_CHUNK):
                cols: list[Sequence[Any]] = list(zip(*rows, strict=True))
                # The user key is the stored pseudonym, as in the snapshot's event frames.
                cols[1] = [keys.get(h) or keys.setdefault(h, h.hex()) for h in map(bytes, cols[1])]
                cols[-1] = _parse_features(cols[-1])
                parts.append(pd.DataFrame(dict(zip(names, cols, strict=True))))
        frame = (
            pd.concat(parts, ignore_index=True)
            if parts
            else pd.DataFrame({n: pd.Series(dtype=object) for n in names})
        )
        for col in _INTEGERS:
            frame[col] = frame[col].astype(np.int64)
        for col in _FLOATS:
            frame[col] = pd.to_numeric(frame[col]).astype(np.float64)
        return frame

    def count(self) -> int:
        with read(self._engine) as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(x)).scalar_one())
