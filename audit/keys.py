"""Ed25519 keys for C2SP signed notes (signed-note "Ed25519 signatures", type 0x01).

Key strings follow golang.org/x/mod/sumdb/note: ``name+hex(keyid)+base64(0x01 || pubkey)`` for
verifiers (public) and ``PRIVATE+KEY+name+hex(keyid)+base64(0x01 || seed)`` for signers (secret).
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from audit.errors import KeyFormatError
from audit.note import b64decode_strict, is_valid_key_name, key_id

__all__ = ["SIG_TYPE_ED25519", "Ed25519Signer", "Ed25519Verifier"]

SIG_TYPE_ED25519 = 0x01
"""signed-note "Signature types": 0x01 is Ed25519 over the note text."""

_HEX8 = re.compile(r"[0-9a-fA-F]{8}")
_ED25519_KEY_SIZE = 32
_ED25519_SIG_SIZE = 64


def _b64encode(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


@dataclass(frozen=True)
class Ed25519Verifier:
    """An Ed25519 note verifier (signature type 0x01)."""

    name: str
    public_key: bytes

    def __post_init__(self) -> None:
        if not is_valid_key_name(self.name):
            raise KeyFormatError(f"invalid key name {self.name!r}")
        if not isinstance(self.public_key, bytes) or len(self.public_key) != _ED25519_KEY_SIZE:
            raise KeyFormatError("Ed25519 public key must be 32 bytes")
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key)
        except ValueError:
            raise KeyFormatError("not an Ed25519 public key") from None

    @property
    def key_id(self) -> int:
        """signed-note "Ed25519 signatures": key ID over the 32-byte public key, type 0x01."""
        return key_id(self.name, SIG_TYPE_ED25519, self.public_key)

    @classmethod
    def from_key_string(cls, vkey: str) -> Ed25519Verifier:
        """Parse ``name+hex(keyid)+base64(0x01 || pubkey)``.

        Raises ``KeyFormatError`` if malformed, not Ed25519, or the key ID does not match.
        """
        name, _, rest = vkey.partition("+")
        hex_id, _, key64 = rest.partition("+")
        try:
            key = b64decode_strict(key64)
        except ValueError:
            raise KeyFormatError("verifier key is not base64") from None
        if not _HEX8.fullmatch(hex_id) or not is_valid_key_name(name):
            raise KeyFormatError("malformed verifier key")
        if len(key) != 1 + _ED25519_KEY_SIZE or key[0] != SIG_TYPE_ED25519:
            raise KeyFormatError("verifier key is not an Ed25519 key")
        verifier = cls(name, key[1:])
        if verifier.key_id != int(hex_id, 16):
            raise KeyFormatError("verifier key ID does not match its key")
        return verifier

    def key_string(self) -> str:
        """The verifier key string ``name+hex(keyid)+base64(0x01 || pubkey)`` to publish."""
        key = _b64encode(bytes([SIG_TYPE_ED25519]) + self.public_key)
        return f"{self.name}+{self.key_id:08x}+{key}"

    def verify(self, message: bytes, signature: bytes) -> bool:
        """RFC 8032 Ed25519 verification of ``signature`` over ``message``."""
        if len(signature) != _ED25519_SIG_SIZE:
            return False
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except (InvalidSignature, ValueError):
            return False
        return True


class Ed25519Signer:
    """An Ed25519 note signer (signature type 0x01). Signatures are deterministic (RFC 8032)."""

    __slots__ = ("_key", "_name", "_verifier")

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        """Raises ``KeyFormatError`` if ``name`` is not a valid key name."""
        if not is_valid_key_name(name):
            raise KeyFormatError(f"invalid key name {name!r}")
        self._name = name
        self._key = private_key
        self._verifier = Ed25519Verifier(name, private_key.public_key().public_bytes_raw())

    @classmethod
    def generate(cls, name: str) -> Ed25519Signer:
        """A signer with a fresh random key. Raises ``KeyFormatError`` for a bad name."""
        return cls(name, Ed25519PrivateKey.generate())

    @classmethod
    def from_key_string(cls, skey: str) -> Ed25519Signer:
        """Parse ``PRIVATE+KEY+name+hex(keyid)+base64(0x01 || seed)``.

        Raises ``KeyFormatError`` if malformed, not Ed25519, or the key ID does not match.
        """
        parts = skey.split("+", 4)
        if len(parts) != 5 or parts[0] != "PRIVATE" or parts[1] != "KEY":
            raise KeyFormatError("malformed signer key")
        _, _, name, hex_id, key64 = parts
        try:
            key = b64decode_strict(key64)
        except ValueError:
            raise KeyFormatError("signer key is not base64") from None
        if not _HEX8.fullmatch(hex_id):
            raise KeyFormatError("malformed signer key")
        if len(key) != 1 + _ED25519_KEY_SIZE or key[0] != SIG_TYPE_ED25519:
            raise KeyFormatError("signer key is not an Ed25519 key")
        signer = cls(name, Ed25519PrivateKey.from_private_bytes(key[1:]))
        if signer.key_id != int(hex_id, 16):
            raise KeyFormatError("signer key ID does not match its key")
        return signer

    def private_key_string(self) -> str:
        """The secret key string ``PRIVATE+KEY+name+hex(keyid)+base64(0x01 || seed)``."""
        key = _b64encode(bytes([SIG_TYPE_ED25519]) + self._key.private_bytes_raw())
        return f"PRIVATE+KEY+{self._name}+{self.key_id:08x}+{key}"

    @property
    def name(self) -> str:
        return self._name

    @property
    def key_id(self) -> int:
        return self._verifier.key_id

    @property
    def verifier(self) -> Ed25519Verifier:
        """The matching public verifier."""
        return self._verifier

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)

    def __repr__(self) -> str:
        return f"Ed25519Signer(name={self._name!r}, key_id={self.key_id:08x})"
