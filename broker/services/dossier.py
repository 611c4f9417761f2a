"""The dossier service: clients and their entries, encrypted at rest (DESIGN §3, §6).

Service functions own their transaction (STYLE.md); routes and the CLI only call them.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import bindparam
from sqlalchemy import select as sa_select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from broker.errors import ClientNotFound
from broker.policy.decision import EntryMeta
from broker.policy.evaluator import PolicyEvaluator
from broker.schemas.dossier import EntryPublic
from broker.services import name_index
from broker.services.relations import require_valid_relation
from broker.store import crypto
from broker.store.keyring import DECOY_CLIENT_ID, ClientKeyHolder, Keyring
from broker.store.models import REDACTED, Client, Entry
from broker.store.signal_tables import ClientNameDigest
from consent.catalogue import Catalogue
from consent.errors import UnknownSection
from consent.padding import padded


@dataclass(frozen=True)
class NewEntry:
    insz: str
    section: str
    content: dict[str, Any]
    restricted: bool = False

    def __repr__(self) -> str:  # never print the INSZ or the content
        return f"NewEntry(section={self.section!r}, restricted={self.restricted})"


def _entry_aad(entry_id: str) -> bytes:
    return b"gbo-broker/entry/" + entry_id.encode()


def _client_aad(client_id: str) -> bytes:
    return b"gbo-broker/client-insz/" + client_id.encode()


def find_client(session: Session, *, keyring: Keyring, network: str, insz: str) -> Client | None:
    ref = keyring.client_ref(network, insz)
    return session.exec(select(Client).where(Client.network == network, Client.ref == ref)).first()


def client_insz(*, keyring: Keyring, client: Client) -> str:
    """The client's INSZ in clear, for a body that must carry it (DESIGN §10: the partner that
    accepts a referral). Raises ``ClientErased``."""
    return crypto.decrypt(keyring.data_key(client), client.insz_ct,
                          _client_aad(client.id)).decode()


@dataclass(frozen=True, slots=True)
class ClientKey:
    """What the access flow needs of a stored client: its id and its wrapped data key."""

    id: str
    kek_id: str
    data_key_wrapped: bytes | None


# The access flow looks the client up on every request: a Core statement, compiled once, reading
# a plain tuple (no ORM instance for a client that exists, so no time that tells it does;
# DESIGN §4 no existence leak). For a client without a record the database returns a padding
# row in the same statement (``consent.padding``: the decoy client, never stored), so a row is
# fetched and decoded either way.
_CLIENT = Client.__table__  # type: ignore[attr-defined]
_CLIENT_KEY = padded(
    sa_select(_CLIENT.c.id, _CLIENT.c.kek_id, _CLIENT.c.data_key_wrapped).where(
        _CLIENT.c.network == bindparam("network"), _CLIENT.c.ref == bindparam("ref")),
    padding=(DECOY_CLIENT_ID, "", bytes(crypto.WRAPPED_KEY_BYTES)), bucket=1)


def find_client_key(session: Session, *, network: str, client_ref: str) -> ClientKey | None:
    row = session.connection().execute(
        _CLIENT_KEY, {"network": network, "ref": client_ref}).first()
    key = None if row is None else ClientKey(row[0], row[1], row[2])
    return None if row is None or row[3] != 0 else key


def find_client_by_ref(session: Session, *, network: str, client_ref: str) -> Client | None:
    return session.exec(
        select(Client).where(Client.network == network, Client.ref == client_ref)
    ).first()


def get_or_create_client(
    session: Session, *, keyring: Keyring, network: str, insz: str, now: datetime
) -> Client:
    """The client with this INSZ in ``network``, created with a fresh data key if new.

    Two concurrent first writes race on the unique (network, ref) key; the loser re-reads.
    """
    existing = find_client(session, keyring=keyring, network=network, insz=insz)
    if existing is not None:
        return existing
    client_id = f"c-{uuid.uuid4().hex}"
    key, wrapped, kek_id = keyring.new_data_key(client_id)
    client = Client(
        id=client_id,
        network=network,
        ref=keyring.client_ref(network, insz),
        insz_ct=crypto.encrypt(key, insz.encode(), _client_aad(client_id)),
        kek_id=kek_id,
        data_key_wrapped=wrapped,
        created_at=now,
    )
    session.add(client)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        found = find_client(session, keyring=keyring, network=network, insz=insz)
        if found is None:
            raise
        return found
    return client


def add_entry(
    *,
    session: Session,
    keyring: Keyring,
    catalogue: Catalogue,
    network: str,
    author: str,
    worker: str,
    entry_in: NewEntry,
    now: datetime,
) -> Entry:
    """Store one entry, its content encrypted with the client's data key (entry id as AAD).

    Raises ``UnknownSection`` (not in the catalogue), ``NoValidHelpRelation`` (the author does
    not help the client now) and ``ClientErased``. Working notes (``werkaantekeningen``) may be
    written; the policy never shares them (DESIGN §4).
    """
    if entry_in.section not in catalogue.sections:
        # The submitted name is not echoed: errors never quote input (DESIGN §6 canaries).
        raise UnknownSection(pointer="/section")
    # DESIGN §5: only a partner with a valid help relation may write to the client's dossier.
    require_valid_relation(
        session=session,
        network=network,
        client_ref=keyring.client_ref(network, entry_in.insz),
        partner=author,
        now=now,
    )
    return store_entry(session=session, keyring=keyring, network=network, author=author,
                       worker=worker, entry_in=entry_in, now=now)


def store_entry(
    *, session: Session, keyring: Keyring, network: str, author: str, worker: str,
    entry_in: NewEntry, now: datetime,
) -> Entry:
    """Encrypt and store one entry of a known section. The caller has checked that ``author``
    may write (``add_entry`` does). Raises ``ClientErased``."""
    client = get_or_create_client(
        session, keyring=keyring, network=network, insz=entry_in.insz, now=now
    )
    key = keyring.data_key(client)
    entry_id = f"e-{uuid.uuid4().hex}"
    plaintext = json.dumps(entry_in.content, ensure_ascii=False, separators=(",", ":")).encode()
    entry = Entry(
        id=entry_id,
        client_id=client.id,
        section=entry_in.section,
        author=author,
        worker=worker,
        restricted=entry_in.restricted,
        created_at=now,
        content_ct=crypto.encrypt(key, plaintext, _entry_aad(entry_id)),
    )
    session.add(entry)
    # DESIGN §11: keyed digests of a client's name, for screening signals (never the name).
    name_index.index_entry(session=session, keyring=keyring, network=network,
                           client_id=client.id, entry_id=entry_id, section=entry_in.section,
                           content=entry_in.content)
    session.commit()
    return entry


def stored_content(*, keyring: Keyring, client: ClientKeyHolder, entry: Entry) -> bytes:
    """The stored JSON text of a (not redacted) entry. Raises ``ClientErased`` or
    ``DecryptionError``."""
    return crypto.decrypt(keyring.data_key(client), entry.content_ct, _entry_aad(entry.id))


class SealedEntry(NamedTuple):
    """The columns of an entry that decrypting it needs, read as a plain row (the access
    flow's release query: no ORM object per entry)."""

    id: str
    section: str
    author: str
    restricted: bool
    created_at: datetime
    content_ct: bytes


def decrypt_entries(
    *, keyring: Keyring, client: ClientKeyHolder, entries: Sequence[Entry | SealedEntry]
) -> list[EntryPublic]:
    """Decrypt ``entries`` of ``client`` (a redacted one has no content left to decrypt).
    Raises ``ClientErased`` or ``DecryptionError``."""
    key = keyring.data_key(client)
    return [
        EntryPublic(
            id=e.id,
            section=e.section,
            author=e.author,
            restricted=e.restricted,
            created_at=e.created_at,
            content=None if e.content_ct == REDACTED
            else json.loads(crypto.decrypt(key, e.content_ct, _entry_aad(e.id))),
            redacted=e.content_ct == REDACTED,
        )
        for e in entries
    ]


def read_own_dossier(
    *, session: Session, keyring: Keyring, policy: PolicyEvaluator, network: str, insz: str
) -> list[EntryPublic]:
    """What a client reads of their own dossier in ``network``: the entries the policy's
    ``client_view`` releases (DESIGN §4: everything but working notes), oldest first.

    Raises ``ClientNotFound`` when nothing was ever recorded, ``ClientErased`` after erasure and
    ``PolicyUnavailable`` when the policy failed closed.
    """
    client = find_client(session, keyring=keyring, network=network, insz=insz)
    if client is None:
        raise ClientNotFound()
    entries = session.exec(
        select(Entry).where(Entry.client_id == client.id)
        .order_by(col(Entry.created_at), col(Entry.id))
    ).all()
    metas = [EntryMeta(id=e.id, section=e.section, author=e.author, restricted=e.restricted)
             for e in entries]
    released = set(policy.client_view(metas))
    return decrypt_entries(keyring=keyring, client=client,
                           entries=[e for e in entries if e.id in released])


def index_names(*, session: Session, keyring: Keyring) -> int:
    """Index the names (``name_index``) of every readable ``identiteit`` entry not indexed yet:
    entries stored before the index existed. Returns how many entries were indexed."""
    done = set(session.exec(select(ClientNameDigest.entry_id)).all())
    count = 0
    rows = session.exec(select(Entry, Client).where(
        Entry.section == name_index.NAME_SECTION, Entry.client_id == Client.id)).all()
    for entry, client in rows:
        if entry.id in done or entry.is_redacted or client.data_key_wrapped is None:
            continue
        content = json.loads(stored_content(keyring=keyring, client=client, entry=entry))
        name_index.index_entry(session=session, keyring=keyring, network=client.network,
                               client_id=client.id, entry_id=entry.id, section=entry.section,
                               content=content)
        count += 1
    session.commit()
    return count
