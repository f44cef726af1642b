"""exposure log and placement configurations

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 11:37:15.784751
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "placements",
        sa.Column(
            "pk",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "config",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_placements")),
        sa.UniqueConstraint("name", "version", name=op.f("uq_placements_name_version")),
    )
    op.create_table(
        "exposures",
        sa.Column(
            "pk",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("recommendation_id", sa.String(length=128), nullable=False),
        sa.Column("page", sa.Integer(), nullable=False),
        sa.Column("user_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("placement", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column(
            "models",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "context",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("experiment", sa.String(length=128), nullable=True),
        sa.Column("arm", sa.String(length=128), nullable=True),
        sa.Column("fallback", sa.Text(), nullable=True),
        sa.Column("content_hash", sa.LargeBinary(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_pk"], ["users.pk"], name=op.f("fk_exposures_user_pk_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_exposures")),
        sa.UniqueConstraint(
            "recommendation_id", "page", name=op.f("uq_exposures_recommendation_id_page")
        ),
    )
    with op.batch_alter_table("exposures", schema=None) as batch_op:
        batch_op.create_index("ix_exposures_created_at", ["created_at"], unique=False)
        batch_op.create_index("ix_exposures_placement", ["placement"], unique=False)
        batch_op.create_index(
            "ix_exposures_user_pk_created_at", ["user_pk", "created_at"], unique=False
        )

    op.create_table(
        "exposure_items",
        sa.Column(
            "exposure_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("user_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("item_id", sa.String(length=256), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("source", sa.String(length=128), nullable=True),
        sa.Column("propensity", sa.Float(), nullable=True),
        sa.Column(
            "features",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["exposure_pk"],
            ["exposures.pk"],
            name=op.f("fk_exposure_items_exposure_pk_exposures"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_pk"],
            ["users.pk"],
            name=op.f("fk_exposure_items_user_pk_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("exposure_pk", "position", name=op.f("pk_exposure_items")),
    )
    with op.batch_alter_table("exposure_items", schema=None) as batch_op:
        batch_op.create_index("ix_exposure_items_user_pk", ["user_pk"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("exposure_items", schema=None) as batch_op:
        batch_op.drop_index("ix_exposure_items_user_pk")

    op.drop_table("exposure_items")
    with op.batch_alter_table("exposures", schema=None) as batch_op:
        batch_op.drop_index("ix_exposures_user_pk_created_at")
        batch_op.drop_index("ix_exposures_placement")
        batch_op.drop_index("ix_exposures_created_at")

    op.drop_table("exposures")
    op.drop_table("placements")
