"""The dossier service: clients and their entries, encrypted at rest (DESIGN §3, §6).

Service functions own their transaction (STYLE.md); routes and the CLI only call them.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from broker.errors import ClientErased, ClientNotFound, UnknownSection
from broker.relations import require_valid_relation
from broker.store import crypto
from broker.store.keyring import Keyring
from broker.store.models import Client, Entry
from consent.catalogue import Catalogue


@dataclass(frozen=True)
class NewEntry:
    insz: str
    section: str
    content: dict[str, Any]
    restricted: bool = False

    def __repr__(self) -> str:  # never print the INSZ or the content
        return f"NewEntry(section={self.section!r}, restricted={self.restricted})"


@dataclass(frozen=True)
class DecryptedEntry:
    id: str
    section: str
    author: str
    restricted: bool
    created_at: datetime
    content: dict[str, Any]


def _entry_aad(entry_id: str) -> bytes:
    return b"gbo-broker/entry/" + entry_id.encode()


def _client_aad(client_id: str) -> bytes:
    return b"gbo-broker/client-insz/" + client_id.encode()


def find_client(session: Session, *, keyring: Keyring, network: str, insz: str) -> Client | None:
    ref = keyring.client_ref(network, insz)
    return session.exec(select(Client).where(Client.network == network, Client.ref == ref)).first()


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
    key, wrapped = keyring.new_data_key(client_id)
    client = Client(
        id=client_id,
        network=network,
        ref=keyring.client_ref(network, insz),
        insz_ct=crypto.encrypt(key, insz.encode(), _client_aad(client_id)),
        kek_id=keyring.kek.kid,
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
        raise UnknownSection("Use one of the sections listed in the catalogue (policies/).")
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
    session.commit()
    return entry


def decrypt_entries(
    *, keyring: Keyring, client: Client, entries: list[Entry]
) -> list[DecryptedEntry]:
    """Decrypt ``entries`` of ``client``. Raises ``ClientErased`` or ``DecryptionError``."""
    key = keyring.data_key(client)
    return [
        DecryptedEntry(
            id=e.id,
            section=e.section,
            author=e.author,
            restricted=e.restricted,
            created_at=e.created_at,
            content=json.loads(crypto.decrypt(key, e.content_ct, _entry_aad(e.id))),
        )
        for e in entries
    ]


def read_own_dossier(
    *, session: Session, keyring: Keyring, catalogue: Catalogue, network: str, insz: str
) -> list[DecryptedEntry]:
    """A client's whole dossier except working notes (DESIGN §4: tier ``geheim``).

    Raises ``ClientNotFound`` when nothing was ever recorded and ``ClientErased`` after erasure.
    """
    client = find_client(session, keyring=keyring, network=network, insz=insz)
    if client is None:
        raise ClientNotFound()
    shareable = [name for name, info in catalogue.sections.items() if info.is_shareable]
    entries = session.exec(
        select(Entry)
        .where(Entry.client_id == client.id, Entry.section.in_(shareable))  # type: ignore[attr-defined]
        .order_by(Entry.created_at, Entry.id)  # type: ignore[arg-type]
    ).all()
    return decrypt_entries(keyring=keyring, client=client, entries=list(entries))


def decrypt_insz(*, keyring: Keyring, client: Client) -> str:
    key = keyring.data_key(client)
    return crypto.decrypt(key, client.insz_ct, _client_aad(client.id)).decode()


def erase_client(*, session: Session, client_id: str, now: datetime) -> Client:
    """Crypto-shred a client (GDPR art. 17, DESIGN §6): destroy the wrapped data key.

    The ciphertexts stay (and with them every hash that covers them); nothing is readable.
    Raises ``ClientNotFound`` and ``ClientErased`` (already erased).
    """
    client = session.get(Client, client_id)
    if client is None:
        raise ClientNotFound()
    if client.data_key_wrapped is None:
        raise ClientErased()
    client.data_key_wrapped = None
    client.erased_at = now
    session.add(client)
    session.commit()
    return client
