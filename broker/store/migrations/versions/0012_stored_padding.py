"""Stored padding records (DESIGN §4 no existence leak): the rows the access flow reads, in the
same statement as a client's own records, to bring their number up to a bucket
(``consent.padding``). Reading stored rows costs the database what reading a client's records
does; constant rows cost it less, and that difference told a known client from a never-seen one
by timing (``bench/existence_timing.py``).

They belong to the padding owner "-" (network, client pseudonym and client id), which no real
network, pseudonym or id is; each names nobody and covers nothing: a relation over before it
began, a consent in force whose one recipient is the partner "-" (for the purpose "-", of the
sections "-"), an entry with no content (redacted) in the section "-". The padding client has
no data key, like an erased client.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02
"""

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

from broker.store.models import UTCDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

PADDING = "-"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
FROM = datetime(2000, 1, 1, tzinfo=UTC)
UNTIL = datetime(2200, 1, 1, tzinfo=UTC)
# As many as ``consent.padding.STORED`` says (a test holds them equal).
RELATIONS, CONSENTS, ENTRIES = 4, 4, 16


def _id(k: int, length: int) -> str:
    """An id as long as the broker's own ("cs-" or "e-" and 32 hex digits), so that reading,
    decoding and ordering padding costs what a client's records do; it starts with "-", which
    no id the broker makes does. (Entries are a microsecond apart, as a client's are.)"""
    return "-" + f"{k}".rjust(length - 1, "0")


_client = sa.table(
    "client", sa.column("id"), sa.column("network"), sa.column("ref"),
    sa.column("insz_ct", sa.LargeBinary()), sa.column("kek_id"),
    sa.column("data_key_wrapped", sa.LargeBinary()), sa.column("created_at", UTCDateTime()),
    sa.column("erased_at", UTCDateTime()))
_relation = sa.table(
    "help_relation", sa.column("id"), sa.column("network"), sa.column("client_ref"),
    sa.column("partner"), sa.column("declared_by"), sa.column("starts_at", UTCDateTime()),
    sa.column("ends_at", UTCDateTime()), sa.column("ended_at", UTCDateTime()),
    sa.column("created_at", UTCDateTime()), sa.column("proof"))
_consent = sa.table(
    "consent_version", sa.column("consent_id"), sa.column("version"), sa.column("change"),
    sa.column("network"), sa.column("client_ref"), sa.column("recorded_by_partner"),
    sa.column("recipients", sa.JSON()), sa.column("purposes", sa.JSON()),
    sa.column("sections", sa.JSON()), sa.column("valid_from", UTCDateTime()),
    sa.column("valid_until", UTCDateTime()), sa.column("evidence", sa.JSON()),
    sa.column("grantor", sa.JSON()), sa.column("help_relation_id"),
    sa.column("revoked_at", UTCDateTime()), sa.column("created_at", UTCDateTime()),
    sa.column("proof"), sa.column("recorded_at", UTCDateTime()),
    sa.column("on_behalf_of", sa.JSON()))
_entry = sa.table(
    "entry", sa.column("id"), sa.column("client_id"), sa.column("section"), sa.column("author"),
    sa.column("worker"), sa.column("restricted", sa.Boolean()),
    sa.column("created_at", UTCDateTime()), sa.column("content_ct", sa.LargeBinary()))


def upgrade() -> None:
    op.bulk_insert(_client, [{
        "id": PADDING, "network": PADDING, "ref": PADDING, "insz_ct": b"", "kek_id": PADDING,
        "data_key_wrapped": None, "created_at": EPOCH, "erased_at": EPOCH}])
    op.bulk_insert(_relation, [{
        "id": _id(k, 34), "network": PADDING, "client_ref": PADDING, "partner": PADDING,
        "declared_by": PADDING, "starts_at": EPOCH, "ends_at": EPOCH, "ended_at": None,
        "created_at": EPOCH, "proof": "attested"} for k in range(1, RELATIONS + 1)])
    op.bulk_insert(_consent, [{
        "consent_id": _id(k, 35), "version": 1, "change": "created", "network": PADDING,
        "client_ref": PADDING, "recorded_by_partner": None,
        # Shaped like a typical consent (one recipient, a purpose, three sections, the whole
        # evidence object): decoding it costs what decoding one does.
        "recipients": [{"kind": "partner", "id": PADDING}], "purposes": [PADDING],
        "sections": [PADDING] * 3, "valid_from": FROM, "valid_until": UNTIL,
        "evidence": {"method": "portal", "reference": None, "recorded_by": None},
        "grantor": None, "help_relation_id": None, "revoked_at": None, "created_at": FROM,
        "proof": "attested", "recorded_at": FROM, "on_behalf_of": None}
        for k in range(1, CONSENTS + 1)])
    op.bulk_insert(_entry, [{
        "id": _id(k, 34), "client_id": PADDING, "section": PADDING, "author": PADDING,
        "worker": PADDING, "restricted": True, "created_at": EPOCH + timedelta(microseconds=k),
        "content_ct": b""}
        for k in range(1, ENTRIES + 1)])


def downgrade() -> None:
    op.execute(_entry.delete().where(_entry.c.client_id == PADDING))
    op.execute(_consent.delete().where(_consent.c.network == PADDING))
    op.execute(_relation.delete().where(_relation.c.network == PADDING))
    op.execute(_client.delete().where(_client.c.id == PADDING))
