"""C2SP tlog-cosignature (https://c2sp.org/tlog-cosignature): Ed25519 ``cosignature/v1``.

A witness's cosignature is a signed-note signature line over a checkpoint. Its key ID uses
signature type 0x04; its signature is ``timestamp (u64, big-endian) || Ed25519 signature`` over

    cosignature/v1
    time <timestamp>
    <the checkpoint's note text>

:class:`CosignatureVerifier` plugs into :func:`audit.note.open_note` beside the log's own key, so
one call checks the log's signature and every known witness's cosignature.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from audit.checkpoint import Checkpoint, parse_checkpoint
from audit.errors import CheckpointError, KeyFormatError
from audit.note import (
    NoteVerifier,
    Signature,
    b64decode_strict,
    is_valid_key_name,
    key_id,
    open_note,
)

__all__ = [
    "SIG_TYPE_COSIGNATURE",
    "CosignatureSigner",
    "CosignatureVerifier",
    "Cosigned",
    "open_cosigned",
]

SIG_TYPE_COSIGNATURE = 0x04
"""tlog-cosignature: the key ID of an Ed25519 cosigner is computed with type byte 0x04."""

_HEX8 = re.compile(r"[0-9a-fA-F]{8}")
_MAX_TIMESTAMP = 2**63 - 1  # tlog-cosignature: "It MUST NOT exceed 2^63 - 1"


def cosigned_message(text: str, timestamp: int) -> bytes:
    """tlog-cosignature "Ed25519 signed message": header, time line, then the note text."""
    return f"cosignature/v1\ntime {timestamp}\n".encode() + text.encode("utf-8")


@dataclass(frozen=True)
class CosignatureVerifier:
    """A witness's Ed25519 cosigning key (``name+hex(keyid)+base64(0x04 || pubkey)``)."""

    name: str
    public_key: bytes

    def __post_init__(self) -> None:
        if not is_valid_key_name(self.name):
            raise KeyFormatError(f"invalid key name {self.name!r}")
        if len(self.public_key) != 32:
            raise KeyFormatError("Ed25519 public key must be 32 bytes")
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key)
        except ValueError:
            raise KeyFormatError("not an Ed25519 public key") from None

    @property
    def key_id(self) -> int:
        return key_id(self.name, SIG_TYPE_COSIGNATURE, self.public_key)

    @classmethod
    def from_key_string(cls, vkey: str) -> CosignatureVerifier:
        """Parse a cosigner vkey. Raises ``KeyFormatError`` if malformed, not type 0x04, or the
        key ID does not match."""
        name, _, rest = vkey.strip().partition("+")
        hex_id, _, key64 = rest.partition("+")
        try:
            key = b64decode_strict(key64)
        except ValueError:
            raise KeyFormatError("witness key is not base64") from None
        if not _HEX8.fullmatch(hex_id) or not is_valid_key_name(name):
            raise KeyFormatError("malformed witness key")
        if len(key) != 33 or key[0] != SIG_TYPE_COSIGNATURE:
            raise KeyFormatError("witness key is not an Ed25519 cosignature key (type 0x04)")
        verifier = cls(name, key[1:])
        if verifier.key_id != int(hex_id, 16):
            raise KeyFormatError("witness key ID does not match its key")
        return verifier

    def key_string(self) -> str:
        key = base64.b64encode(bytes([SIG_TYPE_COSIGNATURE]) + self.public_key).decode()
        return f"{self.name}+{self.key_id:08x}+{key}"

    def verify(self, message: bytes, signature: bytes) -> bool:
        """``signature`` is ``timestamp || Ed25519 signature`` over ``cosigned_message``."""
        if len(signature) != 8 + 64:
            return False
        timestamp = int.from_bytes(signature[:8], "big")
        if not 0 < timestamp <= _MAX_TIMESTAMP:
            return False
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(
                signature[8:], cosigned_message(message.decode("utf-8"), timestamp))
        except (InvalidSignature, UnicodeDecodeError, ValueError):
            return False
        return True


class CosignatureSigner:
    """An Ed25519 cosigner (tests and tools; a deployment's witnesses run elsewhere)."""

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key
        self.verifier = CosignatureVerifier(name, private_key.public_key().public_bytes_raw())

    @classmethod
    def generate(cls, name: str) -> CosignatureSigner:
        return cls(name, Ed25519PrivateKey.generate())

    @property
    def name(self) -> str:
        return self.verifier.name

    @property
    def key_id(self) -> int:
        return self.verifier.key_id

    def cosign(self, text: str, timestamp: int) -> Signature:
        """The cosignature line's content over the checkpoint note ``text`` at ``timestamp``."""
        if not 0 < timestamp <= _MAX_TIMESTAMP:
            raise ValueError("timestamp out of range")
        raw = self._key.sign(cosigned_message(text, timestamp))
        return Signature(self.name, self.key_id, timestamp.to_bytes(8, "big") + raw)


@dataclass(frozen=True)
class Cosigned:
    """A checkpoint opened with the log's key, and the witnesses whose cosignatures verified:
    ``cosigners`` maps each witness's public key (base64) to its name, cosignature timestamp
    and signature line. A public key counts once, whatever name it appears under."""

    checkpoint: Checkpoint
    text: str
    cosigners: dict[str, tuple[str, int, str]]

    @property
    def count(self) -> int:
        return len(self.cosigners)


def open_cosigned(note_text: str | bytes, log: NoteVerifier | Sequence[NoteVerifier],
                  witnesses: Iterable[CosignatureVerifier]) -> Cosigned:
    """Verify a checkpoint's log signature and each known witness's cosignature (unknown
    signers are ignored; a known key's bad signature rejects the note, per signed-note).

    ``log`` is the log's key, or all of its keys when it rotated them (one name, several key
    IDs: the current one and the retired ones): one of them must have signed.

    Raises ``NoteError`` / ``UnverifiedNoteError`` / ``CheckpointError`` as
    :func:`audit.checkpoint.open_checkpoint`, and ``UnverifiedNoteError`` when the log itself
    did not sign it.
    """
    logs = list(log) if isinstance(log, Sequence) else [log]
    keys = list(witnesses)
    note = open_note(note_text, [*logs, *keys])
    log_ids = {(v.name, v.key_id) for v in logs}
    if not any((s.name, s.key_id) in log_ids for s in note.signatures):
        from audit.errors import UnverifiedNoteError

        raise UnverifiedNoteError("the log did not sign this checkpoint")
    checkpoint = parse_checkpoint(note.text)
    if checkpoint.origin not in {v.name for v in logs}:
        raise CheckpointError("checkpoint origin does not match the log key name")
    by_id = {(k.name, k.key_id): k for k in keys}
    cosigners: dict[str, tuple[str, int, str]] = {}
    for sig in note.signatures:
        witness = by_id.get((sig.name, sig.key_id))
        if witness is not None:
            public = base64.b64encode(witness.public_key).decode()
            cosigners[public] = (witness.name, int.from_bytes(sig.signature[:8], "big"),
                                 sig.line())
    return Cosigned(checkpoint, note.text, cosigners)


def signature_lines(lines: Sequence[str]) -> str:
    """Signature lines as they are appended to a note (each ending in a newline)."""
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)
