"""Erasing a client (GDPR art. 17, DESIGN §6): crypto-shredding, audited first.

The client's wrapped data key is destroyed: every ciphertext of the client stays (and with it every
hash that covers it) but nothing is readable any more, the audit log still verifies. As every
change in the broker, the erasure is appended to the audit log (kind ``client.erased``, the
pseudonym only) and made durable *before* it is committed: no erasure exists without its entry; an
entry whose erasure then failed to commit describes an attempt.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, select

from broker.errors import ClientErased, ClientNotFound
from broker.services import name_index
from broker.store.audit_events import AuditEvent, AuditLog
from broker.store.models import Client


def erase_client(*, session: Session, audit: AuditLog, network: str, ref: str,
                 now: datetime) -> Client:
    """Crypto-shred the client with pseudonym ``ref`` in ``network``.

    Raises ``ClientNotFound``, ``ClientErased`` (already erased) and ``AuditUnavailable``
    (nothing was erased).
    """
    client = session.exec(select(Client).where(Client.network == network,
                                               Client.ref == ref)).first()
    if client is None:
        raise ClientNotFound()
    if client.data_key_wrapped is None:
        raise ClientErased()
    audit.append(AuditEvent(kind="client.erased", network=network, client=ref), now=now)
    client.data_key_wrapped = None
    client.erased_at = now
    name_index.forget_client(session=session, client_id=client.id)  # DESIGN §11 name digests
    session.add(client)
    session.commit()
    return client
