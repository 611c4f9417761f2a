"""The signal function (DESIGN §11): signals and their follow-ups, bundles with frozen figures,
the privacy budget spent per network and year, clients' opt-outs of secondary use, and keyed
digests of clients' names for screening. New tables only; nothing to carry over (the name
digests of entries written before this revision are made by ``gbo-broker signals index-names``).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

from broker.store.models import UTCDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "signal",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("network", sa.String(64), nullable=False),
        sa.Column("theme", sa.String(40), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("partners", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_signal_network", "signal", ["network"])
    op.create_table(
        "signal_follow_up",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("signal_id", sa.String(40), sa.ForeignKey("signal.id"), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("status", sa.String(24), nullable=True),
        sa.Column("owner", sa.String(64), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_signal_follow_up_signal_id", "signal_follow_up", ["signal_id"])
    op.create_table(
        "signal_bundle",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("network", sa.String(64), nullable=False),
        sa.Column("period_from", sa.Date(), nullable=False),
        sa.Column("period_to", sa.Date(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("released_at", UTCDateTime(), nullable=True),
        sa.Column("epsilon", sa.Float(), nullable=True),
        sa.Column("figures", sa.JSON(), nullable=True),
        sa.Column("signals", sa.JSON(), nullable=True),
    )
    op.create_index("ix_signal_bundle_network", "signal_bundle", ["network"])
    op.create_table(
        "privacy_spend",
        sa.Column("network", sa.String(64), primary_key=True),
        sa.Column("year", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("spent", sa.Float(), nullable=False),
    )
    op.create_table(
        "secondary_use_opt_out",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("network", sa.String(64), nullable=False),
        sa.Column("client_ref", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("ended_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_opt_out_network_client", "secondary_use_opt_out",
                    ["network", "client_ref"])
    op.create_table(
        "client_name_digest",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("network", sa.String(64), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("client_id", sa.String(40), nullable=False),
        sa.Column("entry_id", sa.String(40), nullable=False),
        sa.UniqueConstraint("entry_id", "digest", name="uq_client_name_digest"),
    )
    op.create_index("ix_client_name_digest_lookup", "client_name_digest", ["network", "digest"])
    op.create_index("ix_client_name_digest_client_id", "client_name_digest", ["client_id"])


def downgrade() -> None:
    op.drop_table("client_name_digest")
    op.drop_table("secondary_use_opt_out")
    op.drop_table("privacy_spend")
    op.drop_table("signal_bundle")
    op.drop_table("signal_follow_up")
    op.drop_table("signal")
