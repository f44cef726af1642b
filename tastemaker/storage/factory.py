"""Open the store a settings object names."""

from __future__ import annotations

from tastemaker.config import Settings
from tastemaker.privacy.crypto import INSECURE_DEV_KEY, SecretBox
from tastemaker.storage.base import DataStore


def secret_box(settings: Settings) -> SecretBox:
    """The configured keys; the built-in development key only in insecure development mode."""
    keys = [k.get_secret_value() for k in settings.secret_keys]
    if not keys and settings.insecure_dev:
        keys = [INSECURE_DEV_KEY]
    return SecretBox(keys)


def open_store(settings: Settings, migrate: bool = True) -> DataStore:
    """Open (and by default migrate) the durable store named by ``settings.database_url``."""
    from tastemaker.storage.sql import SqlStore

    store = SqlStore(settings.database_url, secret_box(settings), list(settings.plain_traits))
    if migrate:
        store.migrate()
    return store
