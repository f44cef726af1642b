"""Experiment definitions in SQL: one row per experiment, its definition as a JSON document.

Starting an experiment reads the slices its layer's running experiments hold and takes the lowest
free one in the same transaction; on PostgreSQL writers take an advisory lock first (SQLite's
writers are serialized already), so two starts cannot both see the same gap.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from tastemaker.errors import Conflict, NotFound
from tastemaker.storage.base import ExperimentRepository, StoredExperiment
from tastemaker.storage.sql.dialect import reject_nul
from tastemaker.storage.sql.engine import read, write
from tastemaker.storage.tables import experiments as t

_LOCK_ID = 7_236_548_175  # serializes experiment starts on PostgreSQL
_EPSILON = 1e-9  # slices are sums of shares: tolerate floating-point dust at their ends


def _record(row: Any) -> StoredExperiment:
    return StoredExperiment(
        experiment_id=row.experiment_id,
        placement=row.placement,
        layer=row.layer,
        traffic=float(row.traffic),
        definition=dict(row.definition),
        created_at=row.created_at,
        status=row.status,
        started_at=row.started_at,
        stopped_at=row.stopped_at,
        slice=None if row.slice_start is None else (float(row.slice_start), float(row.slice_end)),
    )


def lowest_free_slice(taken: list[tuple[float, float]], width: float) -> tuple[float, float] | None:
    """The lowest ``[start, start + width)`` inside ``[0, 1)`` that overlaps none of ``taken``.

    >>> lowest_free_slice([(0.0, 0.3), (0.5, 1.0)], 0.2)
    (0.3, 0.5)
    >>> lowest_free_slice([(0.0, 0.3), (0.5, 1.0)], 0.25) is None
    True
    """
    start = 0.0
    for lo, hi in sorted(taken):
        if lo - start >= width - _EPSILON:
            break
        start = max(start, hi)
    if 1.0 - start < width - _EPSILON:
        return None
    return start, min(start + width, 1.0)


class SqlExperiments(ExperimentRepository):
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def create(self, experiment: StoredExperiment) -> None:
        reject_nul("definition", json.dumps(experiment.definition), json=True)
        try:
            with write(self._engine) as conn:
                conn.execute(
                    t.insert(),
                    {
                        "experiment_id": experiment.experiment_id,
                        "placement": experiment.placement,
                        "layer": experiment.layer,
                        "traffic": experiment.traffic,
                        "status": "draft",
                        "definition": experiment.definition,
                        "created_at": experiment.created_at,
                    },
                )
        except IntegrityError:
            raise Conflict(
                f"an experiment {experiment.experiment_id!r} exists already; choose another id"
            ) from None

    def get(self, experiment_id: str) -> StoredExperiment | None:
        with read(self._engine) as conn:
            row = conn.execute(sa.select(t).where(t.c.experiment_id == experiment_id)).first()
        return None if row is None else _record(row)

    def list(self, status: str | None = None) -> list[StoredExperiment]:
        query = sa.select(t).order_by(t.c.pk)
        if status is not None:
            query = query.where(t.c.status == status)
        with read(self._engine) as conn:
            return [_record(r) for r in conn.execute(query)]

    def _locked(self, conn: Connection, experiment_id: str) -> Any:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_LOCK_ID)))
        row = conn.execute(sa.select(t).where(t.c.experiment_id == experiment_id)).first()
        if row is None:
            raise NotFound(f"no experiment {experiment_id!r}")
        return row

    def start(self, experiment_id: str, now: datetime) -> StoredExperiment:
        with write(self._engine) as conn:
            row = self._locked(conn, experiment_id)
            if row.status != "draft":
                raise Conflict(f"experiment {experiment_id!r} is {row.status}; only a draft starts")
            running = conn.execute(sa.select(t).where(t.c.status == "running")).all()
            other = [
                r.experiment_id
                for r in running
                if r.placement == row.placement and r.layer != row.layer
            ]
            if other:
                raise Conflict(
                    f"experiment {other[0]!r} runs on placement {row.placement!r} in another "
                    f"layer; experiments on one placement must share a layer ({row.layer!r})"
                )
            taken = [(r.slice_start, r.slice_end) for r in running if r.layer == row.layer]
            found = lowest_free_slice(taken, float(row.traffic))
            if found is None:
                free = 1.0 - sum(hi - lo for lo, hi in taken)
                raise Conflict(
                    f"layer {row.layer!r} has no free share of {row.traffic:g} (free: {free:g}); "
                    "stop an experiment of the layer or lower this one's traffic"
                )
            conn.execute(
                t.update()
                .where(t.c.pk == row.pk)
                .values(status="running", started_at=now, slice_start=found[0], slice_end=found[1])
            )
            return _record(conn.execute(sa.select(t).where(t.c.pk == row.pk)).one())

    def stop(self, experiment_id: str, now: datetime) -> StoredExperiment:
        with write(self._engine) as conn:
            row = self._locked(conn, experiment_id)
            if row.status != "running":
                raise Conflict(
                    f"experiment {experiment_id!r} is {row.status}; only a running one stops"
                )
            conn.execute(
                t.update().where(t.c.pk == row.pk).values(status="stopped", stopped_at=now)
            )
            return _record(conn.execute(sa.select(t).where(t.c.pk == row.pk)).one())
