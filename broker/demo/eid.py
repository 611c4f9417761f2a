"""A demo eID infrastructure (DESIGN §9), made at first run in demo mode: a demo root CA and a
demo citizen CA under the data directory, and ``play_card``, which does what a Belgian eID card
and its middleware do at the desk: a citizen authentication certificate for an INSZ (subject
``serialNumber`` = INSZ, key usage digitalSignature, extended key usage clientAuth) and its
signature over the broker's challenge. ``gbo-broker demo eid`` prints the result as the
``presence`` object a partner sends.

Demo cards use ECDSA P-384 (as cards issued since 2022) or, with ``rsa=True``, RSA 2048 with
PKCS#1 v1.5 (as older cards). None of this is trusted outside demo mode: the broker refuses to
start with trust anchors from the demo key directory.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from broker.security.eid import DEMO_ROOT_NAME
from broker.security.keys import write_secret_bytes

CA_NAME = "gbo-broker demo citizen CA"
CardKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def eid_dir(demo_keys_dir: Path) -> Path:
    return demo_keys_dir / "eid"


def root_file(demo_keys_dir: Path) -> Path:
    """The demo root certificate: the demo's ``GBO_EID_TRUST_ANCHORS``."""
    return eid_dir(demo_keys_dir) / "root.pem"


def _name(common_name: str, **extra: str) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COUNTRY_NAME, "BE"),
             x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if "serial" in extra:
        attrs.append(x509.NameAttribute(NameOID.SERIAL_NUMBER, extra["serial"]))
    return x509.Name(attrs)


def _ca_cert(subject: x509.Name, key: ec.EllipticCurvePrivateKey, issuer: x509.Name,
             issuer_key: ec.EllipticCurvePrivateKey, now: datetime,
             years: int) -> x509.Certificate:
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=365 * years))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, key_cert_sign=True, crl_sign=True,
                                         encipher_only=False, decipher_only=False),
                           critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                issuer_key.public_key()), critical=False)
            .sign(issuer_key, hashes.SHA384()))


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def create_demo_eid(demo_keys_dir: Path, now: datetime) -> bool:
    """Make the demo root and citizen CA once; True when it made them."""
    folder = eid_dir(demo_keys_dir)
    if root_file(demo_keys_dir).exists():
        return False
    root_key = ec.generate_private_key(ec.SECP384R1())
    root_name = _name(DEMO_ROOT_NAME)
    root = _ca_cert(root_name, root_key, root_name, root_key, now, years=20)
    ca_key = ec.generate_private_key(ec.SECP384R1())
    ca = _ca_cert(_name(CA_NAME), ca_key, root_name, root_key, now, years=10)
    write_secret_bytes(folder / "citizen-ca.key.pem", _key_pem(ca_key))
    (folder / "citizen-ca.pem").write_bytes(_pem(ca))
    (folder / "root.pem").write_bytes(_pem(root))  # last: its presence means "all made"
    return True


@dataclass(frozen=True)
class DemoCitizenCA:
    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @classmethod
    def load(cls, demo_keys_dir: Path) -> DemoCitizenCA:
        folder = eid_dir(demo_keys_dir)
        key = serialization.load_pem_private_key((folder / "citizen-ca.key.pem").read_bytes(),
                                                 password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError("the demo citizen CA key is not an EC key")
        cert = x509.load_pem_x509_certificate((folder / "citizen-ca.pem").read_bytes())
        return cls(certificate=cert, key=key)

    def issue(self, insz: str, card_key: CardKey, now: datetime, *,
              valid_from: datetime | None = None, days: int = 3650,
              digital_signature: bool = True,
              eku: tuple[x509.ObjectIdentifier, ...] = (ExtendedKeyUsageOID.CLIENT_AUTH,),
              ) -> x509.Certificate:
        """A citizen authentication certificate for ``insz`` (tests vary the other fields)."""
        start = valid_from or now - timedelta(days=1)
        builder = (x509.CertificateBuilder().subject_name(_name("Demo Burger", serial=insz))
                   .issuer_name(self.certificate.subject).public_key(card_key.public_key())
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(start).not_valid_after(start + timedelta(days=days))
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None),
                                  critical=True)
                   .add_extension(x509.KeyUsage(
                       digital_signature=digital_signature,
                       content_commitment=not digital_signature, key_encipherment=False,
                       data_encipherment=False, key_agreement=False, key_cert_sign=False,
                       crl_sign=False, encipher_only=False, decipher_only=False),
                       critical=True)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                       self.key.public_key()), critical=False))
        if eku:
            builder = builder.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
        return builder.sign(self.key, hashes.SHA384())


def new_card_key(*, rsa_card: bool = False) -> CardKey:
    if rsa_card:
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP384R1())


def sign_challenge(card_key: CardKey, challenge: str) -> bytes:
    """What the card does: RSA PKCS#1 v1.5 / SHA-256, or ECDSA P-384 / SHA-384 (DER)."""
    message = challenge.encode("ascii")
    if isinstance(card_key, rsa.RSAPrivateKey):
        return card_key.sign(message, padding.PKCS1v15(), hashes.SHA256())
    return card_key.sign(message, ec.ECDSA(hashes.SHA384()))


def presence_object(challenge: str, signature: bytes,
                    chain: list[x509.Certificate]) -> dict[str, Any]:
    return {"challenge": challenge, "signature": base64.b64encode(signature).decode("ascii"),
            "certificate_chain": [_pem(c).decode("ascii") for c in chain]}


def play_card(demo_keys_dir: Path, *, insz: str, challenge: str, now: datetime,
              rsa_card: bool = False) -> dict[str, Any]:
    """A demo card for ``insz`` signs ``challenge``: the ``presence`` object to send."""
    ca = DemoCitizenCA.load(demo_keys_dir)
    key = new_card_key(rsa_card=rsa_card)
    leaf = ca.issue(insz, key, now)
    return presence_object(challenge, sign_challenge(key, challenge), [leaf, ca.certificate])
