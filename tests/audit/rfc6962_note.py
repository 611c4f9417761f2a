"""Test-only note verifier for RFC 6962 signed tree heads (signed-note type 0x05).

c2sp.org/static-ct-api "Checkpoints": the signature is ``uint64 timestamp || TreeHeadSignature``
(a TLS DigitallySigned struct), the key ID is ``SHA-256(name || 0x0A || 0x05 || LogID)[:4]`` with
``LogID = SHA-256(SPKI)``. Kept out of ``audit/`` on purpose: signed-note asks implementations to
support only the signature types their design needs, and the broker signs with Ed25519. It proves
that ``open_checkpoint`` opens a real CT checkpoint through the ``NoteVerifier`` protocol.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key

from audit.checkpoint import parse_checkpoint
from audit.errors import AuditError
from audit.note import b64decode_strict, key_id

SIG_TYPE_RFC6962_STH = 0x05
_TLS_HASH_SHA256 = 4  # RFC 5246 7.4.1.4.1
_TLS_SIG_ECDSA = 3
_TREE_HASH = 1  # RFC 6962 3.2 SignatureType.tree_hash
_V1 = 0


@dataclass(frozen=True)
class RFC6962NoteVerifier:
    name: str
    key_id: int
    public_key: ec.EllipticCurvePublicKey

    @classmethod
    def from_key_string(cls, vkey: str) -> RFC6962NoteVerifier:
        name, hex_id, key64 = vkey.split("+", 2)
        key = b64decode_strict(key64)
        assert key[0] == SIG_TYPE_RFC6962_STH
        spki = key[1:]
        public_key = load_der_public_key(spki)
        assert isinstance(public_key, ec.EllipticCurvePublicKey)
        log_id = hashlib.sha256(spki).digest()
        kid = key_id(name, SIG_TYPE_RFC6962_STH, log_id)
        assert kid == int(hex_id, 16)
        return cls(name, kid, public_key)

    def verify(self, message: bytes, signature: bytes) -> bool:
        if len(signature) < 12:
            return False
        timestamp, hash_alg, sig_alg, length = struct.unpack(">QBBH", signature[:12])
        der = signature[12:]
        if (hash_alg, sig_alg) != (_TLS_HASH_SHA256, _TLS_SIG_ECDSA) or len(der) != length:
            return False
        try:
            checkpoint = parse_checkpoint(message.decode("utf-8"))
        except AuditError:
            return False
        if checkpoint.extensions:
            return False  # static-ct-api: such checkpoints MUST NOT have extension lines
        # RFC 6962 3.5 TreeHeadSignature.
        signed = struct.pack(">BBQQ", _V1, _TREE_HASH, timestamp, checkpoint.size)
        signed += checkpoint.root_hash
        try:
            self.public_key.verify(der, signed, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            return False
        return True
