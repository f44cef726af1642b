"""The relational schema, shared by SQLite and PostgreSQL.

Every table declares in ``info`` how it relates to a user: ``user_column`` names the column that
holds a user's key (``erase_user`` deletes those rows), ``no_user_data`` says why it holds none,
or ``derived_user_data`` says how data derived from users (model artifacts) is renewed.
A test checks every table in a migrated database has one of the two, so a new table cannot be
forgotten by erasure.
"""

from __future__ import annotations

import sqlalchemy as sa

from tastemaker.storage.types import EpochMicros, Json, PrimaryKey

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

items = sa.Table(
    "items",
    metadata,
    sa.Column("pk", PrimaryKey, primary_key=True, autoincrement=True),
    sa.Column("external_id", sa.String(256), nullable=False, unique=True),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("summary", sa.Text, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("tags", Json, nullable=False),
    sa.Column("author", sa.String(256)),
    sa.Column("source", sa.String(256)),
    sa.Column("published_at", EpochMicros),
    sa.Column("expires_at", EpochMicros),
    sa.Column("properties", Json, nullable=False),
    sa.Column("recommendable", sa.Boolean, nullable=False),
    sa.Column("created_at", EpochMicros, nullable=False),
    sa.Column("updated_at", EpochMicros, nullable=False),
    info={"no_user_data": "the catalog describes content, not people"},
)

users = sa.Table(
    "users",
    metadata,
    sa.Column("pk", PrimaryKey, primary_key=True, autoincrement=True),
    sa.Column("id_hash", sa.LargeBinary(32), nullable=False, unique=True),
    sa.Column("external_id_enc", sa.LargeBinary, nullable=False),
    sa.Column("traits_plain", Json, nullable=False),
    sa.Column("traits_enc", sa.LargeBinary),
    sa.Column("preferences", Json, nullable=False),
    sa.Column("created_at", EpochMicros, nullable=False),
    sa.Column("updated_at", EpochMicros, nullable=False),
    info={"user_column": "pk"},
)

consents = sa.Table(
    "consents",
    metadata,
    sa.Column(
        "user_pk",
        PrimaryKey,
        sa.ForeignKey("users.pk", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("purpose", sa.String(32), primary_key=True),
    sa.Column("granted", sa.Boolean, nullable=False),
    sa.Column("decided_at", EpochMicros, nullable=False),
    sa.Column("recorded_at", EpochMicros, nullable=False),
    info={"user_column": "user_pk"},
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("seq", PrimaryKey, primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.String(128), nullable=False, unique=True),
    sa.Column("user_pk", PrimaryKey, sa.ForeignKey("users.pk", ondelete="CASCADE"), nullable=False),
    sa.Column("item_id", sa.String(256)),
    sa.Column("type", sa.String(64), nullable=False),
    sa.Column("value", sa.Float),
    sa.Column("ts", EpochMicros, nullable=False),
    sa.Column("channel", sa.String(32), nullable=False),
    sa.Column("context", Json, nullable=False),
    sa.Column("properties", Json, nullable=False),
    sa.Column("payload_hash", sa.LargeBinary(32), nullable=False),
    sa.Column("received_at", EpochMicros, nullable=False),
    sa.Index("ix_events_user_pk_ts", "user_pk", "ts"),
    sa.Index("ix_events_item_id", "item_id"),
    sa.Index("ix_events_ts", "ts"),
    info={"user_column": "user_pk"},
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("pk", PrimaryKey, primary_key=True, autoincrement=True),
    sa.Column("prefix", sa.String(16), nullable=False, unique=True),
    sa.Column("key_hash", sa.LargeBinary(32), nullable=False),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("scopes", Json, nullable=False),
    sa.Column("created_at", EpochMicros, nullable=False),
    sa.Column("revoked_at", EpochMicros),
    info={"no_user_data": "API keys belong to operators and integrations, not end users"},
)

model_versions = sa.Table(
    "model_versions",
    metadata,
    sa.Column("pk", PrimaryKey, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("config", Json, nullable=False),
    sa.Column("metrics", Json, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("size_bytes", sa.BigInteger, nullable=False),
    sa.Column("created_at", EpochMicros, nullable=False),
    sa.UniqueConstraint("name", "version"),
    info={"no_user_data": "names, parameters and metrics of trained models"},
)

model_blobs = sa.Table(
    "model_blobs",
    metadata,
    sa.Column(
        "version_pk",
        PrimaryKey,
        sa.ForeignKey("model_versions.pk", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("data", sa.LargeBinary, nullable=False),
    info={
        "derived_user_data": (
            "artifacts hold pseudonymous interaction rows and factors derived from events; they "
            "are not edited in place: the next training run, which reads the store after the "
            "erasure, replaces them, and pruning removes older versions"
        )
    },
)

exposures = sa.Table(
    "exposures",
    metadata,
    sa.Column("pk", PrimaryKey, primary_key=True, autoincrement=True),
    sa.Column("recommendation_id", sa.String(128), nullable=False),
    sa.Column("page", sa.Integer, nullable=False),
    sa.Column("user_pk", PrimaryKey, sa.ForeignKey("users.pk", ondelete="CASCADE"), nullable=False),
    sa.Column("placement", sa.String(128), nullable=False),
    sa.Column("created_at", EpochMicros, nullable=False),
    sa.Column("models", Json, nullable=False),
    sa.Column("context", Json, nullable=False),
    sa.Column("experiment", sa.String(128)),
    sa.Column("arm", sa.String(128)),
    sa.Column("fallback", sa.Text),
    sa.Column("content_hash", sa.LargeBinary(32), nullable=False),
    sa.UniqueConstraint("recommendation_id", "page"),
    sa.Index("ix_exposures_user_pk_created_at", "user_pk", "created_at"),
    sa.Index("ix_exposures_created_at", "created_at"),
    sa.Index("ix_exposures_placement", "placement"),
    info={"user_column": "user_pk"},
)

exposure_items = sa.Table(
    "exposure_items",
    metadata,
    sa.Column(
        "exposure_pk",
        PrimaryKey,
        sa.ForeignKey("exposures.pk", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("position", sa.Integer, primary_key=True),
    # The exposure's user again, so erasure and merging reach these rows by one indexed column
    # like every other table's instead of by a join.
    sa.Column("user_pk", PrimaryKey, sa.ForeignKey("users.pk", ondelete="CASCADE"), nullable=False),
    sa.Column("item_id", sa.String(256), nullable=False),
    sa.Column("score", sa.Float, nullable=False),
    sa.Column("source", sa.String(128)),
    sa.Column("propensity", sa.Float),
    sa.Column("features", Json, nullable=False),
    sa.Index("ix_exposure_items_user_pk", "user_pk"),
    info={"user_column": "user_pk"},
)

placements = sa.Table(
    "placements",
    metadata,
    sa.Column("pk", PrimaryKey, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("config", Json, nullable=False),
    sa.Column("deleted", sa.Boolean, nullable=False),
    sa.Column("created_at", EpochMicros, nullable=False),
    sa.UniqueConstraint("name", "version"),
    info={"no_user_data": "placement configurations written by operators"},
)

experiments = sa.Table(
    "experiments",
    metadata,
    sa.Column("pk", PrimaryKey, primary_key=True, autoincrement=True),
    sa.Column("experiment_id", sa.String(128), nullable=False, unique=True),
    sa.Column("placement", sa.String(128), nullable=False),
    sa.Column("layer", sa.String(128), nullable=False),
    sa.Column("traffic", sa.Float, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    # The share of the layer's hash range [slice_start, slice_end) the experiment holds while
    # running; set when it starts, kept after it stops (its analysis needs no more than that).
    sa.Column("slice_start", sa.Float),
    sa.Column("slice_end", sa.Float),
    sa.Column("definition", Json, nullable=False),
    sa.Column("created_at", EpochMicros, nullable=False),
    sa.Column("started_at", EpochMicros),
    sa.Column("stopped_at", EpochMicros),
    sa.Index("ix_experiments_status", "status"),
    info={"no_user_data": "experiment definitions written by operators"},
)
