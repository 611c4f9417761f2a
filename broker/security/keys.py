"""Key files under the data directory: the KEK, per-network pseudonym secrets, demo keys.

Files are JSON, written with mode 0600 and never overwritten but by a rotation
(``broker.security.key_rotation``), which replaces a file atomically and keeps the keys it
retires in it: a retired KEK still unwraps the data keys not yet re-wrapped, a retired log or
receipt key still verifies what it signed (its public half only). Demo-generated keys carry
``"demo": true`` so the broker can refuse them outside demo mode (DESIGN §6, settings).
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm
from jwt.exceptions import PyJWTError

from audit.keys import Ed25519Signer, Ed25519Verifier
from broker.errors import ConfigurationError
from broker.settings import Settings
from broker.store.crypto import KeyEncryptionKey, new_data_key
from broker.store.keyring import KekSet


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def write_secret_json(path: Path, content: dict[str, Any]) -> None:
    """Create ``path`` with mode 0600; refuses to overwrite (keys are never replaced silently)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(content, fh, indent=2)
        fh.write("\n")


def write_secret_bytes(path: Path, content: bytes) -> None:
    """Create ``path`` with mode 0600 holding ``content``; refuses to overwrite."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(content)


def replace_secret_json(path: Path, content: dict[str, Any]) -> None:
    """Replace ``path`` atomically with a new file of mode 0600 holding ``content``: a reader
    sees the old keys or the new ones, never half of a file."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    write_secret_json(tmp, content)
    try:
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigurationError(
            f"{what} not found at {path}: run `gbo-broker keys init` (or `gbo-broker demo`)"
        ) from exc
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"{what} at {path} is unreadable or not JSON") from exc
    if not isinstance(data, dict):
        raise ConfigurationError(f"{what} at {path} is not a JSON object")
    return data


def init_keys(settings: Settings, networks: Iterable[str], *, demo: bool) -> list[Path]:
    """Create the KEK and missing pseudonym secrets; returns the files it created."""
    created: list[Path] = []
    kek_path = settings.resolved_kek_file
    if not kek_path.exists():
        write_secret_json(
            kek_path,
            {"kid": f"kek-{secrets.token_hex(4)}", "key": _b64(new_data_key()), "demo": demo},
        )
        created.append(kek_path)
    path = settings.pseudonym_secrets_file
    current = read_json(path, "pseudonym secrets") if path.exists() else None
    missing = [n for n in networks if current is None or n not in current.get("networks", {})]
    if missing:
        merged = dict(current.get("networks", {})) if current else {}
        merged.update({n: _b64(secrets.token_bytes(32)) for n in missing})
        tmp = path.with_suffix(".tmp")
        tmp.unlink(missing_ok=True)
        write_secret_json(
            tmp, {"networks": merged, "demo": current.get("demo", demo) if current else demo}
        )
        tmp.replace(path)
        created.append(path)
    if not settings.audit_key_file.exists():
        # The audit log's Ed25519 key: its name is the checkpoints' origin line (C2SP). DESIGN §9:
        # the origin is unique per deployment, never a shared default.
        signer = Ed25519Signer.generate(log_origin_for_new_key(settings, demo=demo))
        write_secret_json(settings.audit_key_file,
                          {"skey": signer.private_key_string(), "demo": demo})
        created.append(settings.audit_key_file)
    receipt_path = receipt_key_file(settings)
    if not receipt_path.exists():
        # DESIGN §3: the broker's Ed25519 key that signs consent receipts (JWS).
        jwk = new_signing_jwk(f"receipt-{secrets.token_hex(4)}")
        write_secret_json(receipt_path, {**jwk, "demo": demo})
        created.append(receipt_path)
    session_path = session_key_file(settings)
    if not session_path.exists():
        # DESIGN §2: the client portal's session cookies are sealed (AES-256-GCM) with this key.
        write_secret_json(
            session_path,
            {"kid": f"session-{secrets.token_hex(4)}", "key": _b64(secrets.token_bytes(32)),
             "demo": demo},
        )
        created.append(session_path)
    return created


@dataclass(frozen=True)
class SessionKey:
    """DESIGN §2: seals the portal's session cookie (confidential and authenticated)."""

    kid: str
    key: bytes = field(repr=False)
    demo: bool = False


def session_key_file(settings: Settings) -> Path:
    return settings.keys_dir / "portal-session.json"


def load_session_key(settings: Settings) -> SessionKey:
    """Raises ``ConfigurationError`` when the key file is missing or malformed."""
    data = read_json(session_key_file(settings), "portal session key")
    try:
        key = base64.b64decode(data["key"], validate=True)
        kid = str(data["kid"])
    except (KeyError, ValueError, TypeError) as exc:
        raise ConfigurationError("portal session key file is malformed") from exc
    if len(key) != 32:
        raise ConfigurationError("portal session key must be 32 bytes (AES-256)")
    return SessionKey(kid=kid, key=key, demo=bool(data.get("demo", False)))


@dataclass(frozen=True)
class ReceiptKey:
    """The broker's receipt signing key; its public half is published at
    ``/.well-known/jwks.json``."""

    kid: str
    private_key: Ed25519PrivateKey = field(repr=False)
    demo: bool = False
    # Public JWKs of the keys a rotation retired: published beside the current one, so that a
    # receipt signed before the rotation still verifies by its ``kid``.
    retired: tuple[dict[str, Any], ...] = ()


def receipt_key_file(settings: Settings) -> Path:
    return settings.keys_dir / "receipt-signing.jwk.json"


def load_receipt_key(settings: Settings) -> ReceiptKey:
    """Raises ``ConfigurationError`` when the key file is missing or not an Ed25519 JWK."""
    data = read_json(receipt_key_file(settings), "receipt signing key")
    try:
        key = OKPAlgorithm.from_jwk({k: v for k, v in data.items()
                                     if k not in ("demo", "retired")})
        kid = str(data["kid"])
        retired = tuple(dict(jwk) for jwk in data.get("retired", []))
    except (KeyError, ValueError, TypeError, PyJWTError) as exc:
        raise ConfigurationError("receipt signing key file is malformed") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigurationError("receipt signing key must be an Ed25519 private key")
    if any("d" in jwk or not isinstance(jwk.get("kid"), str) for jwk in retired):
        raise ConfigurationError("a retired receipt key must be a public JWK with a kid")
    return ReceiptKey(kid=kid, private_key=key, demo=bool(data.get("demo", False)),
                      retired=retired)


DEMO_ORIGIN_PREFIX = "gbo-broker.demo/"


def log_origin_for_new_key(settings: Settings, *, demo: bool) -> str:
    """The origin a new audit log key is named after (DESIGN §9: unique per deployment):
    ``GBO_LOG_ORIGIN``; in demo mode without it, a random one made now. Raises
    ``ConfigurationError`` outside demo mode without ``GBO_LOG_ORIGIN``."""
    if settings.log_origin:
        return settings.log_origin
    if not demo:
        raise ConfigurationError(
            "GBO_LOG_ORIGIN is not set: name this deployment's audit log (a schema-less URL you "
            "control, e.g. audit.gbo-gent.example/log); there is no shared default"
        )
    return DEMO_ORIGIN_PREFIX + secrets.token_hex(8)


def check_log_origin(settings: Settings) -> None:
    """DESIGN §9: outside demo mode the broker starts only with its own ``GBO_LOG_ORIGIN``.
    Raises ``ConfigurationError``."""
    if not settings.demo and not settings.log_origin:
        log_origin_for_new_key(settings, demo=False)


def load_audit_signer(settings: Settings) -> tuple[Ed25519Signer, bool]:
    """The audit log's signing key and whether the demo created it. Raises
    ``ConfigurationError`` when the key is missing or malformed, or when ``GBO_LOG_ORIGIN`` is
    set and differs from the key's name (``check_log_origin`` refuses a missing one)."""
    data = read_json(settings.audit_key_file, "audit log key")
    try:
        signer = Ed25519Signer.from_key_string(str(data["skey"]))
    except (KeyError, ValueError) as exc:
        raise ConfigurationError("audit log key file is malformed") from exc
    if settings.log_origin is not None and signer.name != settings.log_origin:
        raise ConfigurationError(
            f"the audit log key is named {signer.name!r} but GBO_LOG_ORIGIN is "
            f"{settings.log_origin!r}; they must be equal (C2SP tlog-checkpoint origin)"
        )
    return signer, bool(data.get("demo", False))


@dataclass(frozen=True)
class AuditKeys:
    """The log's signing key, whether the demo made it, and every verifier key of the log: the
    current one first, then those a rotation retired (newest first). Each checkpoint the log
    ever signed verifies with one of them (DESIGN §7)."""

    signer: Ed25519Signer
    demo: bool
    verifiers: tuple[Ed25519Verifier, ...]


def load_audit_keys(settings: Settings) -> AuditKeys:
    """Raises ``ConfigurationError`` as :func:`load_audit_signer`, or for a malformed retired
    key."""
    signer, demo = load_audit_signer(settings)
    data = read_json(settings.audit_key_file, "audit log key")
    try:
        retired = [Ed25519Verifier.from_key_string(str(v)) for v in data.get("retired", [])]
    except (TypeError, ValueError) as exc:
        raise ConfigurationError("a retired audit log key is malformed") from exc
    if any(v.name != signer.name for v in retired):
        raise ConfigurationError("a retired audit log key has another name than the log's")
    return AuditKeys(signer=signer, demo=demo, verifiers=(signer.verifier, *retired))


def _kek_of(item: Any, *, demo: bool) -> KeyEncryptionKey:
    try:
        key = base64.b64decode(item["key"], validate=True)
        kid = str(item["kid"])
    except (KeyError, ValueError, TypeError) as exc:
        raise ConfigurationError("key-encryption key file is malformed") from exc
    if len(key) != 32:
        raise ConfigurationError("key-encryption key must be 32 bytes (AES-256)")
    return KeyEncryptionKey(kid=kid, key=key, demo=demo)


def load_kek(settings: Settings) -> KeyEncryptionKey:
    """The current key-encryption key. Raises ``ConfigurationError``."""
    return load_keks(settings).current


def load_keks(settings: Settings) -> KekSet:
    """The current key-encryption key and the ones a rotation retired (still unwrapping the
    data keys not yet re-wrapped). Raises ``ConfigurationError``."""
    data = read_json(settings.resolved_kek_file, "key-encryption key")
    demo = bool(data.get("demo", False))
    current = _kek_of(data, demo=demo)
    retired = data.get("retired", [])
    if not isinstance(retired, list):
        raise ConfigurationError("key-encryption key file is malformed")
    return KekSet(current=current,
                  retired={k.kid: k for k in (_kek_of(r, demo=demo) for r in retired)})


def load_pseudonym_secrets(settings: Settings) -> dict[str, bytes]:
    data = read_json(settings.pseudonym_secrets_file, "pseudonym secrets")
    try:
        return {net: base64.b64decode(v, validate=True) for net, v in data["networks"].items()}
    except (KeyError, ValueError, AttributeError) as exc:
        raise ConfigurationError("pseudonym secrets file is malformed") from exc


# --- Ed25519 signing keys as JWK (demo partners, the demo issuer) -------------------------------


def new_signing_jwk(kid: str) -> dict[str, Any]:
    """A fresh Ed25519 private key as a JWK dict (RFC 8037), with ``kid`` and ``alg``."""
    jwk: dict[str, Any] = json.loads(OKPAlgorithm.to_jwk(Ed25519PrivateKey.generate()))
    jwk.update({"kid": kid, "alg": "EdDSA", "use": "sig"})
    return jwk


def public_jwk(private_jwk: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in private_jwk.items() if k != "d"}
