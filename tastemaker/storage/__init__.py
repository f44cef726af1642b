"""Durable storage: one interface per role, backends chosen by URL."""

from tastemaker.storage.base import DataStore
from tastemaker.storage.factory import open_store

__all__ = ["DataStore", "open_store"]
