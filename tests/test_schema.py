"""The schema: migrations match the tables, and erasure cannot forget a table."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from tastemaker.storage import DataStore
from tastemaker.storage.sql import SqlStore
from tastemaker.storage.tables import metadata


def test_migrations_produce_the_declared_schema(store: DataStore) -> None:
    assert isinstance(store, SqlStore)
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == [], f"migrations and tables.py disagree; add a migration: {diff}"


def test_migrate_twice_is_harmless(store: DataStore) -> None:
    store.migrate()
    store.migrate()


def test_every_table_declares_its_relation_to_users(store: DataStore) -> None:
    """A table that can hold user data must be erasable; a new one must say which it is."""
    assert isinstance(store, SqlStore)
    inspector = sa.inspect(store.engine)
    live = set(inspector.get_table_names()) - {"alembic_version"}
    assert live == set(metadata.tables), "a table exists in the database but not in tables.py"
    for name in live:
        info = metadata.tables[name].info
        declared = [k for k in ("user_column", "no_user_data", "derived_user_data") if k in info]
        assert len(declared) == 1, (
            f"table {name!r} must declare exactly one of info['user_column'] (erase_user "
            "deletes by it), info['no_user_data'] (why it holds none) or "
            "info['derived_user_data'] (how derived data is renewed)"
        )
        columns = {c["name"] for c in inspector.get_columns(name)}
        if "user_column" in info:
            assert info["user_column"] in columns
        # Any column pointing at users must be the declared user column.
        for fk in inspector.get_foreign_keys(name):
            if fk["referred_table"] == "users":
                assert fk["constrained_columns"] == [info.get("user_column")], (
                    f"{name}.{fk['constrained_columns']} refers to users but is not erased by"
                )
        assert not ({"user_id", "user_pk", "external_user_id"} & columns) or "user_column" in info


def test_the_exposure_migration_downgrades_and_upgrades_again(store: DataStore) -> None:
    from alembic import command

    from tastemaker.storage.migrations import alembic_config

    assert isinstance(store, SqlStore)
    new = {"exposures", "exposure_items", "placements"}
    with store.engine.connect() as conn:
        cfg = alembic_config(store.engine)
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0002")
        conn.commit()
    assert not new & set(sa.inspect(store.engine).get_table_names())
    store.migrate()
    assert new <= set(sa.inspect(store.engine).get_table_names())
    store.placements.put("home", {"k": 1}, datetime(2026, 1, 1, tzinfo=UTC))
    assert store.placements.revision() == 1
