"""The broker's audit log: what an audit entry holds (DESIGN §7) and how it is written and read.

Entry format (the leaf is the RFC 8785 canonical JSON of this object, plus its ``index``)::

    {"v": 1, "id": <uuid>, "kind": "access.decision" | "consent.created" | ..., "time": RFC 3339,
     "network", "partner", "worker" (pseudonymous), "client" (pseudonym), "purpose",
     "sections": {name: {"verdict", "reasons"}}, "policy_version", "consent_ids", "request_id",
     "break_glass", "facts": {clear, non-secret facts},
     "detail": {"alg": "A256GCM", "ct": base64} | null}

Never dossier content, never an INSZ. ``detail`` (which entries were released, a break-glass
justification, ...) is encrypted with the client's data key (entry id as associated data): the
client can read it, and after crypto-shredding nobody can, while every hash still verifies.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from audit.entry import StoredLeaf, encode_leaf, format_time
from audit.errors import AuditError, AuditPushback
from audit.log import TransparencyLog
from audit.store import Appended
from broker.errors import AuditBusy, AuditSecretLeak, AuditUnavailable
from broker.store import crypto
from broker.store.audit_vocabulary import Vocabulary, check_leaf_size

ENTRY_VERSION = 1


@dataclass(frozen=True)
class AuditEvent:
    kind: str
    network: str
    client: str | None = None
    partner: str | None = None
    worker: str | None = None
    purpose: str | None = None
    sections: Mapping[str, Mapping[str, Any]] | None = None
    policy_version: str | None = None
    consent_ids: Sequence[str] = ()
    request_id: str | None = None
    break_glass: bool = False
    facts: Mapping[str, Any] = field(default_factory=dict)
    detail: Mapping[str, Any] | None = None



def _detail_aad(entry_id: str) -> bytes:
    return b"gbo-broker/audit-detail/" + entry_id.encode()


def build_entry(event: AuditEvent, *, now: datetime, data_key: bytes | None) -> dict[str, Any]:
    """The JSON object to log for ``event`` (pure but for the random id and nonce)."""
    entry_id = str(uuid.uuid4())
    detail = None
    if event.detail is not None:
        if data_key is None:
            raise ValueError("an event with detail needs the client's data key")
        plaintext = json.dumps(event.detail, sort_keys=True, separators=(",", ":")).encode()
        ct = crypto.encrypt(data_key, plaintext, _detail_aad(entry_id))
        detail = {"alg": "A256GCM", "ct": base64.b64encode(ct).decode()}
    return {
        "v": ENTRY_VERSION,
        "id": entry_id,
        "kind": event.kind,
        "time": format_time(now),
        "network": event.network,
        "partner": event.partner,
        "worker": event.worker,
        "client": event.client,
        "purpose": event.purpose,
        "sections": {k: dict(v) for k, v in (event.sections or {}).items()},
        "policy_version": event.policy_version,
        "consent_ids": sorted(event.consent_ids),
        "request_id": event.request_id,
        "break_glass": event.break_glass,
        "facts": dict(event.facts),
        "detail": detail,
    }


def decode(leaf: StoredLeaf) -> dict[str, Any]:
    entry: dict[str, Any] = json.loads(leaf.leaf)
    return entry


def decrypt_detail(entry: Mapping[str, Any], data_key: bytes) -> dict[str, Any] | None:
    """The entry's detail in clear. Raises ``DecryptionError`` with a wrong or shredded key."""
    detail = entry.get("detail")
    if not detail:
        return None
    ct = base64.b64decode(detail["ct"])
    clear: dict[str, Any] = json.loads(crypto.decrypt(data_key, ct, _detail_aad(entry["id"])))
    return clear


class AuditLog:
    """The broker's one way into the log: every entry passes the closed vocabulary's guard
    (DESIGN §9) before it is appended."""

    def __init__(self, log: TransparencyLog, *, timeout: float, vocabulary: Vocabulary) -> None:
        self.log = log
        self.vocabulary = vocabulary
        self._timeout = timeout

    def append(
        self,
        event: AuditEvent,
        *,
        data_key: bytes | None = None,
        never_contains: Sequence[str] = (),
        now: datetime | None = None,
    ) -> Appended:
        """Append ``event`` and wait until it is durable (audit-before-release, DESIGN §6).

        ``never_contains``: values (an INSZ, content markers) that must not appear in the entry;
        if one does, nothing is logged and ``AuditSecretLeak`` is raised.
        Raises ``AuditBusy`` at once when the log's writer holds ``GBO_AUDIT_MAX_PENDING``
        entries (nothing logged) and ``AuditUnavailable`` when the log cannot make the entry
        durable in time: withdrawn if the writer had not taken it yet, else still written, as a
        decision whose answer never reached the caller (``audit.writer``). Either way the
        caller releases nothing. A purpose or section name outside the catalogue is logged as
        ``unknown``, the worker (a token's ``sub``) as its keyed pseudonym; any other clear field
        outside its closed set refuses the entry with ``AuditVocabularyRefused`` (DESIGN §9).
        """
        vocabulary = self.vocabulary
        event = replace(event, purpose=vocabulary.clear_purpose(event.purpose),
                        sections=vocabulary.clear_sections(event.sections),
                        worker=vocabulary.clear_worker(event.network, event.partner,
                                                       event.worker))
        entry = build_entry(event, now=now or datetime.now(UTC), data_key=data_key)
        # The leaf as it will be stored, with the longest index: the secrets are looked for in
        # its very bytes (unescaped UTF-8, so a non-ASCII secret is found too) and its size is
        # the most the stored leaf can have.
        leaf = encode_leaf({**entry, "index": 2**53 - 1})
        if any(secret and secret.encode() in leaf for secret in never_contains):
            raise AuditSecretLeak()
        vocabulary.check(entry)
        check_leaf_size(len(leaf))
        try:
            return self.log.append(entry, timeout=self._timeout)
        except AuditPushback as exc:
            raise AuditBusy() from exc
        except (AuditError, TimeoutError) as exc:
            raise AuditUnavailable() from exc

    def close(self) -> None:
        self.log.close()
