"""Encryption at rest (DESIGN §6): per-client data keys, AES-256-GCM, keys wrapped by a KEK.

Every ciphertext is ``nonce (12 bytes) || AES-GCM(ciphertext || tag)``; the associated data binds
it to its record (entry id, client id), so a ciphertext moved to another record fails to decrypt.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from broker.errors import DecryptionError

KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12  # NIST SP 800-38D recommended IV length for GCM
WRAPPED_KEY_BYTES = NONCE_BYTES + KEY_BYTES + 16  # a data key as ``KeyEncryptionKey.wrap`` gives it


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=KEY_BYTES * 8)


def encrypt(key: bytes, plaintext: bytes, associated_data: bytes) -> bytes:
    """AES-256-GCM with a fresh random nonce; ``associated_data`` is authenticated, not stored."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, associated_data)


def decrypt(key: bytes, blob: bytes, associated_data: bytes) -> bytes:
    """Inverse of :func:`encrypt`.

    Raises ``DecryptionError`` on a wrong key, a wrong record or tampering.
    """
    if len(blob) < NONCE_BYTES + 16:
        raise DecryptionError()
    try:
        return AESGCM(key).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], associated_data)
    except InvalidTag as exc:
        raise DecryptionError() from exc


def data_key_aad(client_id: str) -> bytes:
    return b"gbo-broker/data-key/" + client_id.encode()


@dataclass(frozen=True)
class KeyEncryptionKey:
    """Wraps per-client data keys. ``kid`` is stored beside each wrapped key for rotation."""

    kid: str
    key: bytes = b""
    demo: bool = False

    def wrap(self, data_key: bytes, client_id: str) -> bytes:
        return encrypt(self.key, data_key, data_key_aad(client_id))

    def unwrap(self, wrapped: bytes, client_id: str) -> bytes:
        return decrypt(self.key, wrapped, data_key_aad(client_id))

    def __repr__(self) -> str:  # never print key material
        return f"KeyEncryptionKey(kid={self.kid!r}, demo={self.demo})"


def pseudonym(secret: bytes, insz: str) -> str:
    """Keyed pseudonym of a client (DESIGN §3): HMAC-SHA-256 with the network's secret.

    Truncated to 128 bits (32 hex characters): collision-free in practice, short enough for UIs.
    """
    mac = hmac.new(secret, b"gbo-broker/client/" + insz.encode(), hashlib.sha256)
    return mac.hexdigest()[:32]


_LETTERS = "abcdefghijklmnop"  # one letter per nibble: a pseudonym with no digit at all


def worker_pseudonym(secret: bytes, partner: str, subject: str) -> str:
    """Keyed pseudonym of a partner's worker (DESIGN §9): never the token's raw ``sub``.

    HMAC-SHA-256 with the network's pseudonym secret, over the partner id and ``sub`` (domain
    separated from client pseudonyms), 64 bits spelled in the letters a-p (``w-`` + 16 letters):
    stable per worker, and with no digits a log line can never mistake it for a number.
    """
    mac = hmac.new(secret, b"gbo-broker/worker/" + partner.encode() + b"/" + subject.encode(),
                   hashlib.sha256).digest()
    return "w-" + "".join(_LETTERS[b >> 4] + _LETTERS[b & 15] for b in mac[:8])
