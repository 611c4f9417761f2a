"""Redacting one dossier entry (DESIGN §3 "admin action", §7): an operator removes the content
of an entry that was recorded by mistake or cannot be served, audited first.

The entry row stays (its id, section, author, time and flags), so that it existed and was
redacted stays visible to its client, to partners it is released to (``redacted: true``,
``content: null``) and in the audit log; its ciphertext is replaced by ``REDACTED``. As every
change in the broker, the redaction is appended to the audit log (kind ``entry.redacted``: the
client's pseudonym, the author, the entry id and a reason code — never content) and made
durable *before* it is committed: no redaction exists without its entry. Nothing in the log
changes, so ``gbo-broker audit verify`` still passes. Backups still hold the old ciphertext,
readable only with the client's data key; erasing the client (``gbo-broker client erase``)
removes that too.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal, get_args

from sqlmodel import Session, select

from broker.errors import ClientErased, EntryAlreadyRedacted, EntryNotFound
from broker.services import name_index
from broker.store.audit_events import AuditEvent, AuditLog
from broker.store.models import REDACTED, Client, Entry

RedactionReason = Literal["mistaken", "malformed"]
"""``mistaken``: recorded in error (wrong client, wrong content); ``malformed``: the stored
content cannot be served (it was accepted before the strict JSON reader bounded bodies)."""
REASONS: tuple[str, ...] = get_args(RedactionReason)


def redact_entry(*, session: Session, audit: AuditLog, entry_id: str, reason: RedactionReason,
                 now: datetime) -> Entry:
    """Remove the content of entry ``entry_id``, audited first.

    Raises ``EntryNotFound``, ``EntryAlreadyRedacted``, ``ClientErased`` (nothing is readable
    any more: there is nothing to redact) and ``AuditUnavailable`` (nothing was redacted).
    """
    if reason not in REASONS:
        raise ValueError("unknown redaction reason")
    entry = session.get(Entry, entry_id)
    if entry is None:
        raise EntryNotFound()
    if entry.is_redacted:
        raise EntryAlreadyRedacted()
    client = session.exec(select(Client).where(Client.id == entry.client_id)).one()
    if client.data_key_wrapped is None:
        raise ClientErased()
    # DESIGN §6/§7: the audit entry is durable before the change is committed.
    audit.append(AuditEvent(kind="entry.redacted", network=client.network, client=client.ref,
                            partner=entry.author,
                            facts={"record_kind": "entry", "record_id": entry.id,
                                   "reason": reason}), now=now)
    entry.content_ct = REDACTED
    name_index.forget_entry(session=session, entry_id=entry.id)  # DESIGN §11 name digests
    session.add(entry)
    session.commit()
    return entry
