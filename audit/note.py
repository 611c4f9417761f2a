"""C2SP signed notes (https://c2sp.org/signed-note): format, signing and verification.

A note is UTF-8 text ending in a newline, a blank line, then one or more lines
``— <key name> base64(key ID || signature)``. Keys are named by ``(name, key ID)`` and plug in
through :class:`NoteSigner` / :class:`NoteVerifier`; the Ed25519 ones are in :mod:`audit.keys`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from audit.errors import KeyFormatError, NoteError, UnverifiedNoteError

__all__ = [
    "MAX_SIGNATURES",
    "Note",
    "NoteSigner",
    "NoteVerifier",
    "Signature",
    "b64decode_strict",
    "is_valid_key_name",
    "key_id",
    "open_note",
    "parse_note",
    "sign_note",
]

MAX_SIGNATURES = 100
"""signed-note: verifiers SHOULD cap the signature count and MUST accept at least 16."""

_SIG_PREFIX = "\u2014 "  # em dash, space


def b64decode_strict(text: str) -> bytes:
    """RFC 4648 section 4 base64 in its one canonical form (padding, zero trailing bits).

    Raises ``ValueError`` for anything else.
    """
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error) as exc:
        raise ValueError("not standard base64") from exc
    if base64.b64encode(raw).decode("ascii") != text:
        raise ValueError("not canonical base64")
    return raw


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def is_valid_key_name(name: str) -> bool:
    """signed-note "Format": key names are non-empty, with no Unicode spaces and no ``+``."""
    return (
        bool(name)
        and "+" not in name
        and not any(ch.isspace() or ord(ch) < 0x20 for ch in name)
        and _is_utf8(name)
    )


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def key_id(name: str, sig_type: int, public_key: bytes) -> int:
    """signed-note "Signatures": ``SHA-256(key name || 0x0A || type || public key)[:4]``, uint32."""
    data = name.encode("utf-8") + b"\n" + bytes([sig_type]) + public_key
    return int.from_bytes(hashlib.sha256(data).digest()[:4], "big")


class NoteVerifier(Protocol):
    """A key that can check note signatures: identified by ``(name, key_id)``."""

    @property
    def name(self) -> str: ...

    @property
    def key_id(self) -> int: ...

    def verify(self, message: bytes, signature: bytes) -> bool:
        """Whether ``signature`` (without the 4-byte key ID) is valid over ``message``."""
        ...


class NoteSigner(Protocol):
    """A key that can sign note text: identified by ``(name, key_id)``."""

    @property
    def name(self) -> str: ...

    @property
    def key_id(self) -> int: ...

    def sign(self, message: bytes) -> bytes:
        """The signature over ``message`` (without the 4-byte key ID)."""
        ...


@dataclass(frozen=True)
class Signature:
    """One signature line: key name, key ID, and the signature bytes after the key ID."""

    name: str
    key_id: int
    signature: bytes

    def line(self) -> str:
        """The signature line, newline included."""
        raw = self.key_id.to_bytes(4, "big") + self.signature
        return f"{_SIG_PREFIX}{self.name} {_b64(raw)}\n"


@dataclass(frozen=True)
class Note:
    """An opened note: ``text`` is trustworthy only because ``signatures`` verified."""

    text: str
    signatures: tuple[Signature, ...]
    unverified: tuple[Signature, ...] = ()


def _check_text(text: str) -> None:
    # signed-note "Format": valid UTF-8, no ASCII control characters other than newline.
    if not _is_utf8(text):
        raise NoteError("note is not valid UTF-8")
    if any(ord(ch) < 0x20 and ch != "\n" for ch in text):
        raise NoteError("note contains control characters")


def sign_note(text: str, signers: Sequence[NoteSigner]) -> str:
    """Sign ``text`` with each signer and return the signed note.

    Raises ``NoteError`` if the text does not end in a newline or contains control characters,
    or no signer is given, and ``KeyFormatError`` for an invalid signer name.
    """
    _check_text(text)
    if not text.endswith("\n"):
        raise NoteError("note text must end with a newline")
    if not signers:
        raise NoteError("a note needs at least one signature")
    lines = []
    for signer in signers:
        if not is_valid_key_name(signer.name):
            raise KeyFormatError(f"invalid key name {signer.name!r}")
        sig = Signature(signer.name, signer.key_id, signer.sign(text.encode("utf-8")))
        lines.append(sig.line())
    return text + "\n" + "".join(lines)


def parse_note(msg: str | bytes) -> tuple[str, tuple[Signature, ...]]:
    """Split a signed note into its text and signature lines, checking syntax only.

    Raises ``NoteError`` if malformed. Nothing is verified: do not trust the text.
    """
    if isinstance(msg, bytes):
        try:
            msg = msg.decode("utf-8")
        except UnicodeDecodeError:
            raise NoteError("note is not valid UTF-8") from None
    _check_text(msg)
    # signed-note "Format": the text (with its final newline) is separated from the
    # signatures by the last empty line.
    split = msg.rfind("\n\n")
    if split < 0:
        raise NoteError("note has no signature block")
    text, block = msg[: split + 1], msg[split + 2 :]
    if not block or not block.endswith("\n"):
        raise NoteError("signature block must be non-empty and end with a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError("too many signatures")
    sigs = []
    for line in lines:
        # "— <key name> base64(32-bit key ID || signature)"
        if not line.startswith(_SIG_PREFIX):
            raise NoteError("malformed signature line")
        name, _, b64 = line[len(_SIG_PREFIX) :].partition(" ")
        try:
            raw = b64decode_strict(b64)
        except ValueError:
            raise NoteError("malformed signature encoding") from None
        if not is_valid_key_name(name) or len(raw) < 5:
            raise NoteError("malformed signature line")
        sigs.append(Signature(name, int.from_bytes(raw[:4], "big"), raw[4:]))
    return text, tuple(sigs)


def open_note(msg: str | bytes, verifiers: Iterable[NoteVerifier]) -> Note:
    """Parse a signed note and verify it against the known ``verifiers``.

    Per signed-note "Signatures": signatures by unknown ``(name, key ID)`` pairs are ignored
    (returned as ``unverified``); a known key's failing signature rejects the note; at least
    one known key must have signed. Raises ``NoteError`` for a malformed note or a bad
    signature, ``UnverifiedNoteError`` if no known key signed, ``KeyFormatError`` if two
    verifiers share a name and key ID.
    """
    known: dict[tuple[str, int], NoteVerifier] = {}
    for v in verifiers:
        if (v.name, v.key_id) in known:
            raise KeyFormatError(f"two verifiers for {v.name}+{v.key_id:08x}")
        known[(v.name, v.key_id)] = v
    text, sigs = parse_note(msg)
    message = text.encode("utf-8")
    verified: list[Signature] = []
    unverified: list[Signature] = []
    for sig in sigs:
        verifier = known.get((sig.name, sig.key_id))
        if verifier is None:
            if sig not in unverified:
                unverified.append(sig)
            continue
        # "If the key name and ID match a known key, verifiers MUST verify the signature."
        if not verifier.verify(message, sig.signature):
            raise NoteError(f"invalid signature by {sig.name}+{sig.key_id:08x}")
        if all((s.name, s.key_id) != (sig.name, sig.key_id) for s in verified):
            verified.append(sig)  # a key counts once, however often it signed
    if not verified:
        raise UnverifiedNoteError("no signature by a known key")
    return Note(text, tuple(verified), tuple(unverified))
