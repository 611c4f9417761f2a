"""Consent receipts: a Kantara Consent Receipt / ISO/IEC TS 27560-style record of one consent
version, signed by the broker as a compact JWS (RFC 7515) with its Ed25519 key (EdDSA, RFC 8037).

The receipt is a pure function of the consent version and the catalogue, so it can be rebuilt at any
time and its id is stable. The JWS payload is the RFC 8785 canonical JSON of the receipt, so the
same receipt always yields the same bytes (and, Ed25519 being deterministic, the same signature).

The receipt names the client only by pseudonym (``subject``, JWT ``sub``): a ``ConsentVersion``
holds no INSZ. Fields follow Kantara Consent Receipt 1.1 and ISO/IEC TS 27560 where they apply:
the controller with name, contact and privacy notice (``controllers``, ``policy_url``), the
recipients (third-party disclosure), the legal basis, the consent type, per purpose its
termination, the data categories with the special ones flagged, the collection method and, for a
consent recorded at the desk, the organisation whose worker recorded it. The signed payload also
carries the registered JWT claims ``iss``, ``sub``, ``iat`` and ``jti`` (RFC 7519 §4.1).
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import jwt
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from consent.catalogue import Catalogue
from consent.errors import ReceiptInvalid
from consent.legal_basis import LEGAL_BASES, consent_bases
from consent.models import ConsentVersion
from consent.publisher import Publisher

RECEIPT_VERSION = "1.1"
RECEIPT_TYP = "consent-receipt+jwt"
ALGORITHM = "EdDSA"
# Fixed namespace: receipt_id = uuid5(namespace, "<consent id>:<version>").
RECEIPT_NAMESPACE = uuid.UUID("4f6b2a58-9a43-4d0e-9c1b-3d2e6a7c8b10")

WITHDRAWAL_METHOD = (
    "Je kan deze toestemming altijd intrekken of beperken, zonder uitleg te geven: in je online "
    "dossier bij 'Mijn toestemmingen', of aan de balie bij een hulpverlener van het netwerk. "
    "Vanaf dan krijgt niemand nog gegevens op basis van wat je introk. De partners die al gegevens "
    "kregen, worden verwittigd."
)


# The wildcard section (consent.rules.WILDCARD) in plain Dutch: never the special categories.
WILDCARD_LABEL = "Alle gewone gegevens die voor het doel nodig zijn (geen gevoelige gegevens)"


@dataclass(frozen=True, slots=True)
class Organisation:
    """A partner organisation named in a receipt (registry id and name)."""

    id: str
    name: str


def build_receipt(
    c: ConsentVersion,
    *,
    catalogue: Catalogue,
    publisher: Publisher,
    recorded_by_organisation: Organisation | None = None,
) -> dict[str, Any]:
    """The receipt for one consent version, as JSON-ready data (no signature)."""
    sections = catalogue.sections
    purposes = catalogue.purposes
    data_categories = [
        {
            "section": s,
            "label": sections[s].label if s in sections else WILDCARD_LABEL,
            # GDPR art. 9/10 (DESIGN §3 tier bijzonder) = a special category of personal data.
            "special_category": s in sections and sections[s].is_special_category,
        }
        for s in c.sections
    ]
    sensitive = any(d["special_category"] for d in data_categories)
    receipt_id = str(uuid.uuid5(RECEIPT_NAMESPACE, f"{c.id}:{c.version}"))
    controller = publisher.controller
    recipients = [{"kind": r.kind, "id": r.id} for r in c.recipients]
    return {
        # registered JWT claims (RFC 7519 §4.1): the broker issues, about the client's pseudonym
        "iss": publisher.issuer,
        "sub": c.client_ref,
        "iat": int(c.created_at.timestamp()),
        "jti": receipt_id,
        "version": RECEIPT_VERSION,
        "receipt_id": receipt_id,
        "consent_id": c.id,
        "consent_version": c.version,
        "previous_version_id": c.previous_version_id,
        "timestamp": _instant(c.created_at),
        "jurisdiction": "BE",
        "language": "nl",
        "subject": c.client_ref,
        "controllers": [{
            "id": controller.id, "name": controller.name,
            "contact": {"email": controller.contact_email},
            "privacy_notice_url": controller.privacy_notice_url,
        }],
        "policy_url": controller.privacy_notice_url,
        "legal_basis": [{"code": code, "label": LEGAL_BASES[code]}
                        for code in consent_bases(sensitive)],
        "consent_type": "explicit",
        "recipients": recipients,
        "purposes": [
            {
                "purpose": p,
                "label": purposes[p].label if p in purposes else p,
                "consent_type": "explicit",
                "termination": _instant(c.valid_until),
                "third_party_disclosure": True,
                "third_parties": recipients,
            }
            for p in c.purposes
        ],
        "data_categories": data_categories,
        "sensitive": sensitive,
        "collection_method": c.evidence.method,
        "recorded_by": c.evidence.recorded_by,
        "recorded_by_organisation": None if recorded_by_organisation is None else {
            "id": recorded_by_organisation.id, "name": recorded_by_organisation.name},
        "withdrawal_method": WITHDRAWAL_METHOD,
        "valid_from": _instant(c.valid_from),
        "valid_until": _instant(c.valid_until),
        "help_relation_id": c.help_relation_id,
        "grantor": None if c.grantor is None else {"name": c.grantor.name, "role": c.grantor.role},
        # DESIGN §9: how the client's will was proven, and who acted under a mandate.
        "proof": c.proof,
        "on_behalf_of": None if c.on_behalf_of is None else {
            "mandate_id": c.on_behalf_of.mandate_id, "mandatary": c.on_behalf_of.mandatary},
    }


def sign_receipt(receipt: Mapping[str, Any], private_key: Ed25519PrivateKey, kid: str) -> str:
    """Sign ``receipt`` as a compact JWS (EdDSA, header ``kid`` and ``typ``).

    Raises:
        TypeError, ValueError: ``receipt`` is not JSON data (from ``rfc8785``).
    """
    payload = rfc8785.dumps(dict(receipt))
    return jwt.PyJWS().encode(
        payload, private_key, algorithm=ALGORITHM, headers={"kid": kid, "typ": RECEIPT_TYP}
    )


def verify_receipt(jws: str, jwks: Mapping[str, Any]) -> dict[str, Any]:
    """Verify a receipt JWS against a JWKS (``{"keys": [...]}``) and return the receipt.

    Steps: the header names an allowed algorithm, our ``typ`` and a ``kid`` present in the JWKS
    (no fallback to other keys); that key is an Ed25519 OKP key (RFC 8037); the signature verifies
    (RFC 7515 §5.2); the payload is a JSON object in RFC 8785 canonical form, exactly as signed.

    Raises:
        ReceiptInvalid: any step fails. Opaque on purpose.
    """
    try:
        header = jwt.get_unverified_header(jws)
        if header.get("alg") != ALGORITHM or header.get("typ") != RECEIPT_TYP:
            raise ReceiptInvalid
        key = _find_key(jwks, header.get("kid"))
        decoded = jwt.PyJWS().decode_complete(jws, key=key, algorithms=[ALGORITHM])
        payload = cast(bytes, decoded["payload"])
        receipt = json.loads(payload)
        if not isinstance(receipt, dict) or rfc8785.dumps(receipt) != payload:
            raise ReceiptInvalid
    except ReceiptInvalid:
        raise
    except (jwt.PyJWTError, ValueError, TypeError, KeyError) as exc:
        raise ReceiptInvalid from exc
    return cast(dict[str, Any], receipt)


def public_jwk(public_key: Ed25519PublicKey, kid: str) -> dict[str, str]:
    """The RFC 8037 JWK of an Ed25519 public key, for the broker's published JWKS."""
    raw = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    x = base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")
    return {"kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "use": "sig", "alg": ALGORITHM}


def _find_key(jwks: Mapping[str, Any], kid: object) -> jwt.PyJWK:
    if not isinstance(kid, str):
        raise ReceiptInvalid
    keys = jwks.get("keys")
    if not isinstance(keys, list):
        raise ReceiptInvalid
    matches = [k for k in keys if isinstance(k, dict) and k.get("kid") == kid]
    if len(matches) != 1:
        raise ReceiptInvalid
    jwk = matches[0]
    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
        raise ReceiptInvalid
    return jwt.PyJWK(jwk, algorithm=ALGORITHM)


def _instant(moment: datetime) -> str:
    """RFC 3339 UTC timestamp with ``Z``."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
