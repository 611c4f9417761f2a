"""Keyed digests of clients' names, for screening signals (DESIGN §11: "names of clients" are
refused before a signal is stored).

A client's name lives only in the encrypted dossier (an ``identiteit`` entry's ``naam``, or
``voornaam`` with ``achternaam``/``familienaam``). When such an entry is stored, the broker keeps
the HMAC-SHA-256, keyed with the network's pseudonym secret, of the name's normalised words
(``screening.normalise_words``) in two orders — as written, and with the first word moved to the
end ("peeters an" for "An Peeters") — and nothing else: without the secret, which never leaves
the broker, a digest tells nobody a name; with a candidate name and the secret, it tells
whether that is a client's. Screening computes the same digests of every run of two to four
words of a signal and refuses a match.

Limits, said plainly: a name of one word, a nickname, a misspelling or a name only in free text
of another section is not caught; a first name or surname on its own is not refused (it would
refuse ordinary words and common names of nobody in particular). Entries stored before this
index existed are indexed by ``gbo-broker signals index-names``. The digests go with the entry's
content (redaction) and with the client (erasure).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Sequence
from typing import Any

from sqlmodel import Session, col, delete, select

from broker.errors import ConfigurationError
from broker.services.screening import MIN_NAME_WORDS, normalise_words
from broker.store.keyring import Keyring
from broker.store.signal_tables import ClientNameDigest

NAME_SECTION = "identiteit"
_LABEL = b"gbo-broker/client-name/"


def _secret(keyring: Keyring, network: str) -> bytes:
    try:
        return keyring.pseudonym_secrets[network]
    except KeyError as exc:
        raise ConfigurationError(f"no pseudonym secret for network {network!r}") from exc


def digest(secret: bytes, words: str) -> str:
    """The keyed digest of a name given as normalised words joined by one space."""
    return hmac.new(secret, _LABEL + words.encode(), hashlib.sha256).hexdigest()


def names_in(content: Any) -> list[str]:
    """The full names an ``identiteit`` entry's content holds, as written."""
    if not isinstance(content, dict):
        return []
    names = [content["naam"]] if isinstance(content.get("naam"), str) else []
    first = content.get("voornaam")
    last = content.get("achternaam", content.get("familienaam"))
    if isinstance(first, str) and isinstance(last, str):
        names.append(f"{first} {last}")
    return names


def name_forms(name: str) -> set[str]:
    """The normalised forms of ``name`` that are indexed: as written and surname first."""
    words = normalise_words(name)
    if len(words) < MIN_NAME_WORDS:
        return set()
    return {" ".join(words), " ".join([*words[1:], words[0]])}


def index_entry(*, session: Session, keyring: Keyring, network: str, client_id: str,
                entry_id: str, section: str, content: Any) -> None:
    """Add the digests of the names in an entry (the caller commits)."""
    if section != NAME_SECTION:
        return
    secret = _secret(keyring, network)
    forms: set[str] = set()
    for name in names_in(content):
        forms |= name_forms(name)
    for form in sorted(forms):
        session.add(ClientNameDigest(network=network, digest=digest(secret, form),
                                     client_id=client_id, entry_id=entry_id))


def forget_entry(*, session: Session, entry_id: str) -> None:
    """Drop an entry's digests (the caller commits)."""
    session.exec(delete(ClientNameDigest).where(
        col(ClientNameDigest.entry_id) == entry_id))


def forget_client(*, session: Session, client_id: str) -> None:
    """Drop every digest of a client (the caller commits)."""
    session.exec(delete(ClientNameDigest).where(
        col(ClientNameDigest.client_id) == client_id))


def matcher(*, session: Session, keyring: Keyring,
            network: str) -> Callable[[Sequence[str]], list[bool]]:
    """``is_client_name`` for ``screening.find_identifiers``: one query for all candidates."""
    secret = _secret(keyring, network)

    def is_client_name(candidates: Sequence[str]) -> list[bool]:
        digests = [digest(secret, c) for c in candidates]
        found: set[str] = set()
        for start in range(0, len(digests), 500):
            chunk = digests[start:start + 500]
            found |= set(session.exec(select(ClientNameDigest.digest).where(
                ClientNameDigest.network == network,
                col(ClientNameDigest.digest).in_(chunk))).all())
        return [d in found for d in digests]

    return is_client_name
