"""Dossier store: clients, entries, used partner-token ids.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

from broker.store.models import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "client",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("network", sa.String(64), nullable=False),
        sa.Column("ref", sa.String(64), nullable=False),
        sa.Column("insz_ct", sa.LargeBinary(), nullable=False),
        sa.Column("kek_id", sa.String(64), nullable=False),
        sa.Column("data_key_wrapped", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("erased_at", UTCDateTime(), nullable=True),
        sa.UniqueConstraint("network", "ref", name="uq_client_network_ref"),
    )
    op.create_table(
        "entry",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("client_id", sa.String(40), sa.ForeignKey("client.id"), nullable=False),
        sa.Column("section", sa.String(64), nullable=False),
        sa.Column("author", sa.String(64), nullable=False),
        sa.Column("worker", sa.String(64), nullable=False),
        sa.Column("restricted", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("content_ct", sa.LargeBinary(), nullable=False),
    )
    op.create_index("ix_entry_client_id_section", "entry", ["client_id", "section"])
    op.create_table(
        "used_token",
        sa.Column("issuer", sa.String(64), primary_key=True),
        sa.Column("jti", sa.String(128), primary_key=True),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_used_token_expires_at", "used_token", ["expires_at"])


def downgrade() -> None:
    op.drop_table("used_token")
    op.drop_index("ix_entry_client_id_section", table_name="entry")
    op.drop_table("entry")
    op.drop_table("client")
