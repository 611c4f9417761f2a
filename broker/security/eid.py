"""The client's eID card as proof of presence at the desk (DESIGN §9).

The broker issues a challenge; the card signs it with its authentication key; the partner sends
``presence: {challenge, signature, certificate_chain: [PEM leaf, PEM intermediate, ...]}``. This
module checks, with ``cryptography``'s X.509 path validation (``x509.verification``):

1. the chain from the leaf through the given intermediates to a configured trust anchor (the
   Belgian eID roots in production, ``GBO_EID_TRUST_ANCHORS``; the demo root in demo mode), every
   certificate valid at ``now``; CA certificates must be CAs allowed to sign certificates;
2. the leaf is an authentication certificate: key usage ``digitalSignature`` (a card's
   non-repudiation signing certificate is refused) and, if it names extended key usages,
   ``clientAuth`` among them;
3. the leaf's subject ``serialNumber`` is the INSZ the record is about;
4. the signature over the challenge's ASCII bytes verifies with the leaf's key: RSA PKCS#1 v1.5
   with SHA-256, or ECDSA P-384 with SHA-384 (DER, or the 96-byte ``r || s`` a card returns), as
   Belgian cards use.

The challenge itself (single use, at most 5 minutes, issued to this partner for this client) is
checked by ``broker.services.presence``. Every failure raises ``PresenceNotProven``, one opaque
error whatever failed: its ``reason`` is for tests and never reaches the caller.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from broker.errors import ConfigurationError, PresenceNotProven

MAX_CHAIN = 4  # leaf and at most three intermediates
DEMO_ROOT_NAME = "gbo-broker demo eID root"  # refused as a trust anchor outside demo mode
_P384_RAW = 96


@dataclass(frozen=True)
class TrustAnchors:
    """The eID roots the broker trusts, loaded once."""

    store: Store | None
    count: int
    path: Path | None = None
    demo: bool = False  # one of them is the demo root (``broker.demo.eid``)

    @classmethod
    def none(cls) -> TrustAnchors:
        """No anchors configured: every presence proof fails (desk records stay ``attested``)."""
        return cls(store=None, count=0)


def load_trust_anchors(path: Path | None) -> TrustAnchors:
    """The PEM certificates in ``path`` (one file, one or more certificates).

    Raises ``ConfigurationError`` when the file is missing, unreadable or holds no certificate.
    """
    if path is None:
        return TrustAnchors.none()
    try:
        certs = x509.load_pem_x509_certificates(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"GBO_EID_TRUST_ANCHORS at {path} is not a PEM file of "
                                 "certificates") from exc
    demo = any(attr.value == DEMO_ROOT_NAME for cert in certs
               for attr in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME))
    return TrustAnchors(store=Store(certs), count=len(certs), path=path, demo=demo)


@dataclass(frozen=True)
class Presence:
    """A parsed ``presence`` object; nothing in it is trusted yet."""

    challenge: str
    signature: bytes
    leaf: x509.Certificate
    intermediates: tuple[x509.Certificate, ...]


def parse_presence(challenge: str, signature_b64: str,
                   chain_pem: Sequence[str]) -> Presence:
    """Raises ``PresenceNotProven`` when the parts cannot be read."""
    try:
        signature = base64.b64decode(signature_b64, validate=True)
        if not 1 <= len(chain_pem) <= MAX_CHAIN:
            raise ValueError("chain length")
        certs = [x509.load_pem_x509_certificate(pem.encode("ascii")) for pem in chain_pem]
    except (ValueError, binascii.Error, UnicodeEncodeError) as exc:
        raise PresenceNotProven("unreadable presence") from exc
    return Presence(challenge=challenge, signature=signature, leaf=certs[0],
                    intermediates=tuple(certs[1:]))


def _digital_signature(_: Any, __: Any, key_usage: x509.KeyUsage) -> None:
    if not key_usage.digital_signature:
        raise ValueError("not an authentication key")


def _client_auth(_: Any, __: Any, eku: x509.ExtendedKeyUsage | None) -> None:
    if eku is not None and ExtendedKeyUsageOID.CLIENT_AUTH not in eku:
        raise ValueError("not a client authentication certificate")


def _ee_policy() -> ExtensionPolicy:
    return (ExtensionPolicy.webpki_defaults_ee()
            .require_present(x509.KeyUsage, Criticality.AGNOSTIC, _digital_signature)
            .may_be_present(x509.ExtendedKeyUsage, Criticality.AGNOSTIC, _client_auth)
            .may_be_present(x509.SubjectAlternativeName, Criticality.AGNOSTIC, None)
            .may_be_present(x509.CertificatePolicies, Criticality.AGNOSTIC, None))


def _ca_policy() -> ExtensionPolicy:
    return (ExtensionPolicy.webpki_defaults_ca()
            .may_be_present(x509.CertificatePolicies, Criticality.AGNOSTIC, None))


def _serial_number(cert: x509.Certificate) -> str | None:
    values = cert.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)
    if len(values) != 1 or not isinstance(values[0].value, str):
        return None
    return values[0].value


def _check_signature(leaf: x509.Certificate, signature: bytes, message: bytes) -> None:
    key = leaf.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
    elif isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP384R1):
        if len(signature) == _P384_RAW:  # a card's raw r || s
            r, s = (int.from_bytes(signature[:48], "big"), int.from_bytes(signature[48:], "big"))
            signature = encode_dss_signature(r, s)
        key.verify(signature, message, ec.ECDSA(hashes.SHA384()))
    else:
        raise InvalidSignature("unsupported key")


def verify_presence(presence: Presence, *, anchors: TrustAnchors, insz: str,
                    now: datetime) -> None:
    """Steps 1–4 of the module docstring. Raises ``PresenceNotProven``."""
    if anchors.store is None:
        raise PresenceNotProven("no trust anchors configured")
    verifier = (PolicyBuilder().store(anchors.store).time(now).max_chain_depth(MAX_CHAIN)
                .extension_policies(ca_policy=_ca_policy(), ee_policy=_ee_policy())
                .build_client_verifier())
    try:
        verifier.verify(presence.leaf, list(presence.intermediates))
    except VerificationError:
        # The library's message names the certificate's subject (an INSZ): not kept.
        raise PresenceNotProven("chain does not verify") from None
    if _serial_number(presence.leaf) != insz:
        raise PresenceNotProven("certificate of another person")
    try:
        _check_signature(presence.leaf, presence.signature, presence.challenge.encode("ascii"))
    except (InvalidSignature, ValueError, UnicodeEncodeError):
        raise PresenceNotProven("bad signature") from None
