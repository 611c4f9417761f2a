"""Case consultations (DESIGN §10: casusoverleg, art. 458ter Sw.): who may request which client's
sections without consent, on which legal basis, until when. The goal and the legal basis'
reference are stored only encrypted with the client's data key.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

from broker.store.models import UTCDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "case_consultation",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("network", sa.String(64), nullable=False),
        sa.Column("client_ref", sa.String(64), nullable=False),
        sa.Column("client_id", sa.String(40), nullable=False),
        sa.Column("legal_basis", sa.String(32), nullable=False),
        sa.Column("secret_ct", sa.LargeBinary(), nullable=False),
        sa.Column("participants", sa.JSON(), nullable=False),
        sa.Column("client_notice", sa.String(16), nullable=False),
        sa.Column("opened_at", UTCDateTime(), nullable=False),
        sa.Column("opened_by", sa.String(64), nullable=False),
        sa.Column("until", UTCDateTime(), nullable=False),
        sa.Column("closed_at", UTCDateTime(), nullable=True),
        sa.Column("closed_by", sa.String(64), nullable=True),
    )
    op.create_index("ix_case_consultation_client", "case_consultation",
                    ["network", "client_ref"])


def downgrade() -> None:
    op.drop_index("ix_case_consultation_client", table_name="case_consultation")
    op.drop_table("case_consultation")
