"""The SQL data store: one engine, one repository per role."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from tastemaker.errors import StorageError
from tastemaker.privacy.crypto import SecretBox
from tastemaker.storage.base import DataStore
from tastemaker.storage.migrations import upgrade
from tastemaker.storage.sql.engine import create_engine
from tastemaker.storage.sql.events import SqlEvents
from tastemaker.storage.sql.experiments import SqlExperiments
from tastemaker.storage.sql.exposures import SqlExposures
from tastemaker.storage.sql.items import SqlItems
from tastemaker.storage.sql.keys import SqlKeys
from tastemaker.storage.sql.models import SqlModels
from tastemaker.storage.sql.placements import SqlPlacements
from tastemaker.storage.sql.snapshot import SqlSnapshot
from tastemaker.storage.sql.users import SqlUsers, UserCodec


class SqlStore(DataStore):
    """SQLite or PostgreSQL, chosen by URL.

    >>> from tastemaker.privacy.crypto import SecretBox
    >>> store = SqlStore("sqlite://", SecretBox(["k" * 32]), plain_traits=["device"])
    >>> store.migrate()
    >>> store.items.count()
    0
    """

    def __init__(self, url: str, box: SecretBox, plain_traits: list[str]) -> None:
        self.url = url
        self.engine = create_engine(url)
        codec = UserCodec(box, plain_traits)
        self.items = SqlItems(self.engine)
        self.users = SqlUsers(self.engine, codec)
        self.events = SqlEvents(self.engine, codec)
        self.keys = SqlKeys(self.engine)
        self.models = SqlModels(self.engine)
        self.snapshot = SqlSnapshot(self.engine, codec)
        self.exposures = SqlExposures(self.engine, codec)
        self.placements = SqlPlacements(self.engine)
        self.experiments = SqlExperiments(self.engine)

    def migrate(self) -> None:
        upgrade(self.engine)

    def ping(self) -> None:
        try:
            with self.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except SQLAlchemyError as exc:
            raise StorageError(f"the database cannot be reached: {exc.__class__.__name__}") from exc

    def close(self) -> None:
        self.engine.dispose()
