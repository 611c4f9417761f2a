"""Consents and help relations: relations, consent versions, withdrawal notices (DESIGN §3).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

from broker.store.models import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "help_relation",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("network", sa.String(64), nullable=False),
        sa.Column("client_ref", sa.String(64), nullable=False),
        sa.Column("partner", sa.String(64), nullable=False),
        sa.Column("declared_by", sa.String(64), nullable=False),
        sa.Column("starts_at", UTCDateTime(), nullable=False),
        sa.Column("ends_at", UTCDateTime(), nullable=False),
        sa.Column("ended_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    # The access path (DESIGN §4) reads a client's relations; a partner lists its own.
    op.create_index("ix_help_relation_network_client", "help_relation", ["network", "client_ref"])
    op.create_index("ix_help_relation_partner", "help_relation", ["partner"])
    op.create_table(
        "consent_version",
        sa.Column("consent_id", sa.String(40), primary_key=True),
        sa.Column("version", sa.Integer(), primary_key=True),
        sa.Column("change", sa.String(16), nullable=False),
        sa.Column("network", sa.String(64), nullable=False),
        sa.Column("client_ref", sa.String(64), nullable=False),
        sa.Column("recorded_by_partner", sa.String(64), nullable=True),
        sa.Column("recipients", sa.JSON(), nullable=False),
        sa.Column("purposes", sa.JSON(), nullable=False),
        sa.Column("sections", sa.JSON(), nullable=False),
        sa.Column("valid_from", UTCDateTime(), nullable=False),
        sa.Column("valid_until", UTCDateTime(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("grantor", sa.JSON(), nullable=True),
        sa.Column(
            "help_relation_id", sa.String(40), sa.ForeignKey("help_relation.id"), nullable=True
        ),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "change IN ('created', 'narrowed', 'revoked')", name="ck_consent_change"
        ),
        sa.CheckConstraint("version >= 1", name="ck_consent_version_positive"),
    )
    op.create_index(
        "ix_consent_version_network_client", "consent_version", ["network", "client_ref"]
    )
    op.create_table(
        "consent_notification",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("partner", sa.String(64), nullable=False),
        sa.Column("network", sa.String(64), nullable=False),
        sa.Column("consent_id", sa.String(40), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("change", sa.String(16), nullable=False),
        sa.Column("no_longer_covers", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index(
        "ix_consent_notification_partner_id", "consent_notification", ["partner", "id"]
    )
    op.create_table(
        "notification_ack",
        sa.Column("partner", sa.String(64), primary_key=True),
        sa.Column("acknowledged", sa.Integer(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("notification_ack")
    op.drop_index("ix_consent_notification_partner_id", table_name="consent_notification")
    op.drop_table("consent_notification")
    op.drop_index("ix_consent_version_network_client", table_name="consent_version")
    op.drop_table("consent_version")
    op.drop_index("ix_help_relation_partner", table_name="help_relation")
    op.drop_index("ix_help_relation_network_client", table_name="help_relation")
    op.drop_table("help_relation")
