"""Proof of the client's will (DESIGN §9): proof levels on consents and relations, consent
requests, exclusions, mandates, eID presence challenges and the review of attested records.

Existing rows: a consent version recorded by a partner, and every help relation, were recorded on
a worker's word, so they become ``attested``; a consent the client gave in the portal
(``recorded_by_partner`` NULL on its first version) was given by the client logged in as
themselves, so it becomes ``client``. ``recorded_at`` is the first version's ``created_at``.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

from broker.store.models import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("help_relation") as batch:
        batch.add_column(sa.Column("proof", sa.String(16), nullable=False,
                                   server_default="attested"))
    with op.batch_alter_table("consent_version") as batch:
        batch.add_column(sa.Column("proof", sa.String(16), nullable=False,
                                   server_default="attested"))
        batch.add_column(sa.Column("recorded_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("on_behalf_of", sa.JSON(), nullable=True))
    # Every version inherits its consent's first version: who recorded it and when.
    op.execute(
        "UPDATE consent_version SET "
        "proof = CASE WHEN (SELECT f.recorded_by_partner FROM consent_version f "
        "  WHERE f.consent_id = consent_version.consent_id AND f.version = 1) IS NULL "
        "  THEN 'client' ELSE 'attested' END, "
        "recorded_at = (SELECT f.created_at FROM consent_version f "
        "  WHERE f.consent_id = consent_version.consent_id AND f.version = 1)"
    )
    op.execute("UPDATE consent_version SET recorded_at = created_at WHERE recorded_at IS NULL")
    with op.batch_alter_table("consent_version") as batch:
        batch.alter_column("recorded_at", existing_type=UTCDateTime(), nullable=False)

    op.create_table(
        "consent_request",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("network", sa.String(64), nullable=False),
        sa.Column("client_ref", sa.String(64), nullable=False),
        sa.Column("partner", sa.String(64), nullable=False),
        sa.Column("worker", sa.String(64), nullable=False),
        sa.Column("recipients", sa.JSON(), nullable=False),
        sa.Column("purposes", sa.JSON(), nullable=False),
        sa.Column("sections", sa.JSON(), nullable=False),
        sa.Column("valid_until", UTCDateTime(), nullable=False),
        sa.Column("message_ct", sa.LargeBinary(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.Column("consent_id", sa.String(40), nullable=True),
        sa.Column("on_behalf_of", sa.JSON(), nullable=True),
    )
    op.create_index("ix_consent_request_network_client", "consent_request",
                    ["network", "client_ref"])
    op.create_index("ix_consent_request_partner", "consent_request", ["partner"])
    op.create_table(
        "client_exclusion",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("network", sa.String(64), nullable=False),
        sa.Column("client_ref", sa.String(64), nullable=False),
        sa.Column("partner", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("ended_at", UTCDateTime(), nullable=True),
        sa.Column("on_behalf_of", sa.JSON(), nullable=True),
    )
    op.create_index("ix_client_exclusion_network_client", "client_exclusion",
                    ["network", "client_ref"])
    op.create_table(
        "mandate",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("network", sa.String(64), nullable=False),
        sa.Column("client_ref", sa.String(64), nullable=False),
        sa.Column("mandatary_ref", sa.String(64), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("proof", sa.String(16), nullable=False),
        sa.Column("recorded_by_partner", sa.String(64), nullable=True),
        sa.Column("valid_from", UTCDateTime(), nullable=False),
        sa.Column("valid_until", UTCDateTime(), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("labels_ct", sa.LargeBinary(), nullable=True),
    )
    op.create_index("ix_mandate_network_client", "mandate", ["network", "client_ref"])
    op.create_index("ix_mandate_network_mandatary", "mandate", ["network", "mandatary_ref"])
    op.create_table(
        "presence_challenge",
        sa.Column("challenge_hash", sa.String(64), primary_key=True),
        sa.Column("partner", sa.String(64), nullable=False),
        sa.Column("network", sa.String(64), nullable=False),
        sa.Column("client_ref", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("used_at", UTCDateTime(), nullable=True),
    )
    op.create_table(
        "attestation_review",
        sa.Column("record_kind", sa.String(16), primary_key=True),
        sa.Column("record_id", sa.String(40), primary_key=True),
        sa.Column("reviewed_at", UTCDateTime(), nullable=False),
        sa.Column("reviewer", sa.String(64), nullable=False),
        sa.Column("note", sa.String(500), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("attestation_review")
    op.drop_table("presence_challenge")
    op.drop_index("ix_mandate_network_mandatary", table_name="mandate")
    op.drop_index("ix_mandate_network_client", table_name="mandate")
    op.drop_table("mandate")
    op.drop_index("ix_client_exclusion_network_client", table_name="client_exclusion")
    op.drop_table("client_exclusion")
    op.drop_index("ix_consent_request_partner", table_name="consent_request")
    op.drop_index("ix_consent_request_network_client", table_name="consent_request")
    op.drop_table("consent_request")
    with op.batch_alter_table("consent_version") as batch:
        batch.drop_column("on_behalf_of")
        batch.drop_column("recorded_at")
        batch.drop_column("proof")
    with op.batch_alter_table("help_relation") as batch:
        batch.drop_column("proof")
