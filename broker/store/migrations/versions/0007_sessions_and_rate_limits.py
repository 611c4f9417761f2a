"""Server-side portal sessions (logging out ends a session for every copy of its cookie) and the
rate limits' shared state (token buckets, refusals per partner per day), so that several worker
processes on one PostgreSQL database enforce one budget (DESIGN §2, §6; docs/operations.md).

No existing rows to carry over: sessions sealed before this revision carry no session id and are
refused, so everyone logs in once more.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

from broker.store.models import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "portal_session",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("portal", sa.String(16), nullable=False),
        sa.Column("subject", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_portal_session_subject", "portal_session", ["subject"])
    op.create_index("ix_portal_session_expires_at", "portal_session", ["expires_at"])
    op.create_table(
        "rate_bucket",
        sa.Column("bucket", sa.String(80), primary_key=True),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("updated", sa.Float(), nullable=False),
    )
    op.create_index("ix_rate_bucket_updated", "rate_bucket", ["updated"])
    op.create_table(
        "rate_limit_refusal",
        sa.Column("partner", sa.String(64), primary_key=True),
        sa.Column("day", sa.String(10), primary_key=True),
        sa.Column("refused", sa.Integer(), nullable=False),
        sa.Column("first_at", UTCDateTime(), nullable=False),
        sa.Column("last_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("rate_limit_refusal")
    op.drop_index("ix_rate_bucket_updated", table_name="rate_bucket")
    op.drop_table("rate_bucket")
    op.drop_index("ix_portal_session_expires_at", table_name="portal_session")
    op.drop_index("ix_portal_session_subject", table_name="portal_session")
    op.drop_table("portal_session")
