"""Casework (DESIGN §10): referrals, the coordinator of each client, and casework notices in the
partners' notice feed (a notice now has a ``kind``; the consent fields are those of a withdrawal
notice only).

Existing notices are withdrawal notices: their ``kind`` becomes ``consent_changed``.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

from broker.store.models import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "referral",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("network", sa.String(64), nullable=False),
        sa.Column("client_ref", sa.String(64), nullable=False),
        sa.Column("from_partner", sa.String(64), nullable=False),
        sa.Column("from_worker", sa.String(64), nullable=False),
        sa.Column("to_partner", sa.String(64), nullable=False),
        sa.Column("reason", sa.String(48), nullable=False),
        sa.Column("sections", sa.JSON(), nullable=False),
        sa.Column("message_ct", sa.LargeBinary(), nullable=True),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("consent_request_id", sa.String(40), nullable=True),
        sa.Column("relation_id", sa.String(40), nullable=True),
        sa.Column("decline_reason", sa.String(48), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_referral_network_client", "referral", ["network", "client_ref"])
    op.create_index("ix_referral_from_partner", "referral", ["from_partner"])
    op.create_index("ix_referral_to_partner", "referral", ["to_partner"])
    op.create_index("ix_referral_status_expires_at", "referral", ["status", "expires_at"])
    op.create_table(
        "coordination",
        sa.Column("network", sa.String(64), primary_key=True),
        sa.Column("client_ref", sa.String(64), primary_key=True),
        sa.Column("partner", sa.String(64), nullable=False),
        sa.Column("set_by", sa.String(64), nullable=False),
        sa.Column("since", UTCDateTime(), nullable=False),
    )
    with op.batch_alter_table("consent_notification") as batch:
        batch.add_column(sa.Column("kind", sa.String(32), nullable=False,
                                   server_default="consent_changed"))
        batch.add_column(sa.Column("referral_id", sa.String(40), nullable=True))
        batch.add_column(sa.Column("relation_id", sa.String(40), nullable=True))
        batch.add_column(sa.Column("about_partner", sa.String(64), nullable=True))
        batch.alter_column("consent_id", existing_type=sa.String(40), nullable=True)
        batch.alter_column("version", existing_type=sa.Integer(), nullable=True)
        batch.alter_column("change", existing_type=sa.String(16), nullable=True)
        batch.alter_column("no_longer_covers", existing_type=sa.JSON(), nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM consent_notification WHERE kind <> 'consent_changed'")
    with op.batch_alter_table("consent_notification") as batch:
        batch.alter_column("no_longer_covers", existing_type=sa.JSON(), nullable=False)
        batch.alter_column("change", existing_type=sa.String(16), nullable=False)
        batch.alter_column("version", existing_type=sa.Integer(), nullable=False)
        batch.alter_column("consent_id", existing_type=sa.String(40), nullable=False)
        batch.drop_column("about_partner")
        batch.drop_column("relation_id")
        batch.drop_column("referral_id")
        batch.drop_column("kind")
    op.drop_table("coordination")
    op.drop_index("ix_referral_status_expires_at", table_name="referral")
    op.drop_index("ix_referral_to_partner", table_name="referral")
    op.drop_index("ix_referral_from_partner", table_name="referral")
    op.drop_index("ix_referral_network_client", table_name="referral")
    op.drop_table("referral")
