"""``gbo-broker keys rotate kek|log|receipt`` (DESIGN §5, §6, §7): a new key, the old one kept.

Each rotation is audited first (kind ``key.rotated``, one entry per network so every network's
auditors see it; clear facts: which key, the new and the previous key id, and for the signing
keys the SHA-256 of the new public key), then the key file is replaced atomically with the new
key and the old one moved to its ``retired`` list:

- ``kek``: new data keys are wrapped by the new KEK at once (a running broker looks at the file
  every ``GBO_KEY_RELOAD_INTERVAL`` seconds, and at once for a ``kek_id`` it does not know); the
  retired KEK still unwraps the data keys not yet re-wrapped (``broker.services.rewrap``).
- ``log``: the new key has the log's name (the checkpoints' origin) and a new key id; the tree
  holding the rotation's entry is signed by the old key and the new key together (the handover
  checkpoint), so a verifier that trusted the old key finds, under its signature, the entry
  announcing the new key's fingerprint. The retired key stays a verifier
  (``/v1/audit/keys``).
- ``receipt``: the new key signs receipts from now on; the retired public key stays in the
  JWK Set (``/.well-known/jwks.json``), so a receipt signed before verifies by its ``kid``.

One rotation at a time: a lock file in the keys directory. An entry whose rotation then failed to
replace the file describes an attempt (as for an erasure).
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from audit.keys import Ed25519Signer
from broker.context import BrokerContext
from broker.errors import ConfigurationError
from broker.security.keys import (
    load_audit_keys,
    load_keks,
    load_receipt_key,
    new_signing_jwk,
    receipt_key_file,
    replace_secret_json,
)
from broker.settings import Settings
from broker.store.audit_events import AuditEvent
from broker.store.crypto import new_data_key
from consent.receipt import public_jwk

KeyRole = Literal["kek", "log", "receipt"]
ROLES: tuple[KeyRole, ...] = ("kek", "log", "receipt")
_KEY_ID = re.compile(r"[a-z]{1,8}-[0-9a-f]{8}")  # broker.store.audit_vocabulary


@dataclass(frozen=True)
class Rotated:
    key: KeyRole
    previous_key_id: str
    key_id: str


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


@contextmanager
def _one_rotation(settings: Settings) -> Iterator[None]:
    """Raises ``ConfigurationError`` while another rotation holds the lock."""
    settings.keys_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(settings.keys_dir / ".rotation.lock", "a+") as lock:
        try:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigurationError("another key rotation is running") from None
        try:
            yield
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def _audit(ctx: BrokerContext, rotated: Rotated, *, fingerprint: str | None,
           now: datetime) -> None:
    """DESIGN §3: the rotation is an audit entry, in every network. Raises
    ``AuditUnavailable`` (nothing rotated)."""
    facts: dict[str, str] = {"key": rotated.key, "key_id": rotated.key_id}
    if _KEY_ID.fullmatch(rotated.previous_key_id):  # a KEK named by hand is not logged
        facts["previous_key_id"] = rotated.previous_key_id
    if fingerprint is not None:
        facts["fingerprint"] = fingerprint
    for network in sorted(ctx.registry.networks):
        ctx.audit.append(AuditEvent(kind="key.rotated", network=network, facts=facts), now=now)


def rotate(*, ctx: BrokerContext, key: KeyRole, now: datetime) -> Rotated:
    """Rotate ``key`` (module doc). Raises ``ConfigurationError`` (key files, a concurrent
    rotation) and ``AuditUnavailable`` / ``AuditBusy`` (nothing rotated)."""
    with _one_rotation(ctx.settings):
        if key == "kek":
            return _rotate_kek(ctx, now)
        if key == "log":
            return _rotate_log(ctx, now)
        return _rotate_receipt(ctx, now)


def _rotate_kek(ctx: BrokerContext, now: datetime) -> Rotated:
    settings = ctx.settings
    keks = load_keks(settings)
    kid = f"kek-{secrets.token_hex(4)}"
    rotated = Rotated("kek", keks.current.kid, kid)
    _audit(ctx, rotated, fingerprint=None, now=now)
    retired = [keks.current, *keks.retired.values()]
    replace_secret_json(settings.resolved_kek_file, {
        "kid": kid, "key": _b64(new_data_key()), "demo": keks.current.demo,
        "retired": [{"kid": k.kid, "key": _b64(k.key)} for k in retired],
    })
    return rotated


def _rotate_log(ctx: BrokerContext, now: datetime) -> Rotated:
    settings = ctx.settings
    old = load_audit_keys(settings)
    new = Ed25519Signer.generate(old.signer.name)  # DESIGN §9: the origin stays the log's
    rotated = Rotated("log", f"log-{old.signer.key_id:08x}", f"log-{new.key_id:08x}")
    _audit(ctx, rotated, fingerprint=hashlib.sha256(new.verifier.public_key).hexdigest(),
           now=now)
    ctx.audit.log.checkpoint_signed_by([old.signer, new])  # the handover checkpoint
    replace_secret_json(settings.audit_key_file, {
        "skey": new.private_key_string(), "demo": old.demo,
        "retired": [v.key_string() for v in old.verifiers],
    })
    return rotated


def _rotate_receipt(ctx: BrokerContext, now: datetime) -> Rotated:
    settings = ctx.settings
    old = load_receipt_key(settings)
    kid = f"receipt-{secrets.token_hex(4)}"
    jwk = new_signing_jwk(kid)
    rotated = Rotated("receipt", old.kid, kid)
    raw = base64.urlsafe_b64decode(jwk["x"] + "=" * (-len(jwk["x"]) % 4))
    _audit(ctx, rotated, fingerprint=hashlib.sha256(raw).hexdigest(), now=now)
    replace_secret_json(receipt_key_file(settings), {
        **jwk, "demo": old.demo,
        "retired": [public_jwk(old.private_key.public_key(), old.kid), *old.retired],
    })
    return rotated
