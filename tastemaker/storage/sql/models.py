"""The model registry in SQL: metadata rows and artifact blobs in separate tables."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tastemaker.errors import NotFound
from tastemaker.storage.base import ModelRegistry, ModelVersion
from tastemaker.storage.sql.engine import read, write
from tastemaker.storage.tables import model_blobs as b
from tastemaker.storage.tables import model_versions as t


def _record(m: Any) -> ModelVersion:
    return ModelVersion(
        name=m["name"],
        version=m["version"],
        kind=m["kind"],
        config=dict(m["config"]),
        metrics=dict(m["metrics"]),
        status=m["status"],
        created_at=m["created_at"],
        size_bytes=m["size_bytes"],
    )


class SqlModels(ModelRegistry):
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def save(
        self,
        name: str,
        kind: str,
        blob: bytes,
        config: dict[str, Any],
        metrics: dict[str, Any],
        now: datetime,
        activate: bool = False,
    ) -> ModelVersion:
        with write(self._engine) as conn:
            if conn.dialect.name == "postgresql":
                # Serialize version numbering per name across concurrent trainers.
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtext(name))))
            last = conn.execute(
                sa.select(sa.func.max(t.c.version)).where(t.c.name == name)
            ).scalar()
            row = {
                "name": name,
                "version": int(last or 0) + 1,
                "kind": kind,
                "config": config,
                "metrics": metrics,
                "status": "candidate",
                "size_bytes": len(blob),
                "created_at": now,
            }
            pk = conn.execute(t.insert().returning(t.c.pk), row).scalar_one()
            conn.execute(b.insert(), {"version_pk": pk, "data": blob})
        version = _record(row)
        return self.activate(name, version.version) if activate else version

    def activate(self, name: str, version: int) -> ModelVersion:
        with write(self._engine) as conn:
            found = conn.execute(
                sa.select(t.c.pk).where(t.c.name == name, t.c.version == version)
            ).scalar()
            if found is None:
                raise NotFound(f"no version {version} of model {name!r}")
            conn.execute(
                t.update().where(t.c.name == name, t.c.status == "active").values(status="retired")
            )
            conn.execute(t.update().where(t.c.pk == found).values(status="active"))
            row = conn.execute(sa.select(t).where(t.c.pk == found)).one()
        return _record(row._mapping)

    def active(self, name: str) -> ModelVersion | None:
        with read(self._engine) as conn:
            row = conn.execute(sa.select(t).where(t.c.name == name, t.c.status == "active")).first()
        return _record(row._mapping) if row else None

    def blob(self, name: str, version: int) -> bytes:
        with read(self._engine) as conn:
            data = conn.execute(
                sa.select(b.c.data)
                .join(t, t.c.pk == b.c.version_pk)
                .where(t.c.name == name, t.c.version == version)
            ).scalar()
        if data is None:
            raise NotFound(f"no version {version} of model {name!r}")
        return bytes(data)

    def versions(self, name: str | None = None) -> list[ModelVersion]:
        query = sa.select(t).order_by(t.c.name, t.c.version.desc())
        if name is not None:
            query = query.where(t.c.name == name)
        with read(self._engine) as conn:
            return [_record(r._mapping) for r in conn.execute(query)]

    def prune(self, name: str, keep: int) -> int:
        with write(self._engine) as conn:
            old = (
                conn.execute(
                    sa.select(t.c.pk)
                    .where(t.c.name == name, t.c.status != "active")
                    .order_by(t.c.version.desc())
                    .offset(keep)
                )
                .scalars()
                .all()
            )
            if not old:
                return 0
            conn.execute(b.delete().where(b.c.version_pk.in_(old)))
            conn.execute(t.delete().where(t.c.pk.in_(old)))
        return len(old)
