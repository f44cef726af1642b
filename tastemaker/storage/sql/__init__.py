"""SQLAlchemy Core backend for SQLite and PostgreSQL."""

from tastemaker.storage.sql.store import SqlStore

__all__ = ["SqlStore"]
