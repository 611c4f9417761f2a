"""The closed vocabulary of the audit log's clear fields (DESIGN §9, "A closed vocabulary in the
log").

A leaf can never be erased (GDPR art. 17 cannot reach it), so nothing a caller chose may land in
it in clear. Every clear field is either broker-made in a fixed format (a UUID, a 32-hex
pseudonym, a fixed-width time, an encrypted detail) or taken from a closed set: an enum here,
the partner registry, or the policy catalogue (anything else becomes the literal ``unknown``).
Free text — a justification, a caller's correlation id — goes only into the encrypted detail.

:func:`Vocabulary.check` is the guard at the audit boundary: it refuses (and counts) an entry
with an unknown field, a value outside its field's set or format, or a run of 9 or more digits
(an INSZ has 11) in any string that is not a broker-made random identifier: a random hex or
base64 value may hold a digit run by chance, which is nobody's number; its format is the check.
A new field or kind reopens nothing: it is refused until it is added here, with its set.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from broker.errors import AuditVocabularyRefused

UNKNOWN = "unknown"
"""DESIGN §9: a purpose or section name outside the catalogue is logged as this literal."""

MAX_LEAF_BYTES = 65_535
"""C2SP tlog-tiles entry bundles prefix each entry with a big-endian uint16 length."""

DIGIT_RUN = re.compile(r"[0-9]{9,}")
"""DESIGN §9: no clear field of a leaf or a log line holds a run of 9 or more digits."""

# Every kind the broker logs (DESIGN §3 "Audit entry"). A new kind is added here.
KINDS = frozenset({
    "access.decision", "access.involvement",
    "consent.created", "consent.narrowed", "consent.revoked",
    "relation.created", "relation.ended",
    "client.erased", "entry.redacted",
    "consent_request.created", "consent_request.approved", "consent_request.refused",
    "consent_request.expired", "consent_request.withdrawn",
    "exclusion.created", "exclusion.ended",
    "mandate.created", "mandate.revoked",
    "review.marked",
    # DESIGN §10: casework
    "referral.created", "referral.consent_given", "referral.consent_refused",
    "referral.accepted", "referral.declined", "referral.completed", "referral.dropped",
    "referral.expired", "coordination.set", "coordination.refused",
    "key.rotated",
    "case_consultation.opened", "case_consultation.closed",
    # DESIGN §11 signals
    "signal.created", "signal.followed_up",
    "signal_bundle.created", "signal_bundle.released",
    "opt_out.created", "opt_out.ended",
})

# DESIGN §6, §7 key rotation: which key was rotated, and the ids the broker made for its keys.
KEY_ROLES = frozenset({"kek", "log", "receipt"})
_KEY_ID = re.compile(r"[a-z]{1,8}-[0-9a-f]{8}")

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_HEX32 = re.compile(r"[0-9a-f]{32}")  # a client pseudonym (broker.store.crypto.pseudonym)
_HEX64 = re.compile(r"[0-9a-f]{64}")  # the policy bundle's SHA-256 (broker.policy.bundle)
_RECORD_ID = re.compile(r"[a-z]{1,4}-[0-9a-f]{6,32}")  # consent and relation ids, broker-made
_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z")
_CODE = re.compile(r"[a-z][a-z_]{0,47}")  # reason, obligation, error and method codes: no digits
_WORKER = re.compile(r"w-[a-p]{16}")  # broker.store.keyring.worker_pseudonym: letters only
_B64 = re.compile(r"[A-Za-z0-9+/]{1,87380}={0,2}")
_SMALL_INT = 10**6
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


@dataclass(frozen=True)
class _Refusal(Exception):
    field: str
    why: str


def _str(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise _Refusal(where, "not a string")
    return value


def _member(allowed: Callable[[], Iterable[str]]) -> Callable[[object, str], None]:
    def check(value: object, where: str) -> None:
        text = _str(value, where)
        if text not in allowed():
            raise _Refusal(where, "outside its closed set")
        if DIGIT_RUN.search(text):
            raise _Refusal(where, "a run of 9 or more digits")

    return check


def _formatted(pattern: re.Pattern[str]) -> Callable[[object, str], None]:
    def check(value: object, where: str) -> None:
        if not pattern.fullmatch(_str(value, where)):
            raise _Refusal(where, "not in its broker-made format")

    return check


def _record_id(value: object, where: str) -> None:
    """A consent or relation id: ``cs-``/``r-`` and 128 random bits in hex when the broker made
    it. Shorter ones (imported, older) must also hold no run of 9+ digits."""
    text = _str(value, where)
    if not _RECORD_ID.fullmatch(text):
        raise _Refusal(where, "not in its broker-made format")
    if len(text.partition("-")[2]) != 32 and DIGIT_RUN.search(text):
        raise _Refusal(where, "a run of 9 or more digits")


def _optional(check: Callable[[object, str], None]) -> Callable[[object, str], None]:
    def inner(value: object, where: str) -> None:
        if value is not None:
            check(value, where)

    return inner


def _list_of(check: Callable[[object, str], None]) -> Callable[[object, str], None]:
    def inner(value: object, where: str) -> None:
        if not isinstance(value, list) or len(value) > 64:
            raise _Refusal(where, "not a short list")
        for i, item in enumerate(value):
            check(item, f"{where}[{i}]")

    return inner


def _small_int(value: object, where: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < _SMALL_INT:
        raise _Refusal(where, "not a small count")


def _bool(value: object, where: str) -> None:
    if not isinstance(value, bool):
        raise _Refusal(where, "not a boolean")


_code = _formatted(_CODE)
_time = _formatted(_TIME)
_PARTNER_ID = re.compile(r"[a-z][a-z-]{0,63}")  # a registry id (checked again as a partner)
_code_or_id = _formatted(_PARTNER_ID)


def _on_behalf_of(value: object, where: str) -> None:
    """DESIGN §9 mandates: who acted for the client (mandate id, the mandatary's pseudonym)."""
    if not isinstance(value, dict) or set(value) != {"mandate_id", "mandatary"}:
        raise _Refusal(where, "not a mandate reference")
    _record_id(value["mandate_id"], f"{where}.mandate_id")
    _formatted(_HEX32)(value["mandatary"], f"{where}.mandatary")

# DESIGN §9: the clear facts an entry may carry, each with its set. A new fact is added here.
FACTS: dict[str, Callable[[object, str], None]] = {
    "obligations": _list_of(_code),
    "policy_error": _code,
    "disclosed": _small_int,
    "consent_id": _record_id,
    "version": _small_int,
    "evidence": _code,
    "relation_id": _record_id,
    "start": _time,
    "end": _time,
    "ended_at": _optional(_time),
    "proof": _code,
    "consent_request_id": _record_id,
    "exclusion_id": _record_id,
    "excluded": _code_or_id,
    "mandate_id": _record_id,
    "mandatary": _formatted(_HEX32),
    "role": _code,
    "record_kind": _code,
    "record_id": _record_id,
    "on_behalf_of": _on_behalf_of,
    "reason": _code,
    # DESIGN §10: casework (the sections are catalogue codes, checked before they are logged)
    "referral_id": _record_id,
    "referral_status": _code,
    "referral_reason": _code,
    "to_partner": _code_or_id,
    "sections_asked": _list_of(_code),
    "coordinator_before": _optional(_code_or_id),
    "reasons": _list_of(_code),
    # DESIGN §6, §7: key rotation
    "key": _member(lambda: KEY_ROLES),
    "key_id": _formatted(_KEY_ID),
    "previous_key_id": _formatted(_KEY_ID),
    "fingerprint": _formatted(_HEX64),
    # DESIGN §10: case consultations (ids broker-made; codes and partners from closed sets)
    "consultation_id": _record_id,
    "consultation_ids": _list_of(_record_id),
    "legal_basis": _code,
    "participants": _list_of(_code_or_id),
    "client_notice": _code,
    # DESIGN §11 signals: ids the broker made, catalogue codes, registry ids, dates, ε in 1/1000
    "signal_id": _record_id,
    "follow_up_id": _record_id,
    "theme": _code,
    "status": _code,
    "owner": _code_or_id,
    "bundle_id": _record_id,
    "period_from": _formatted(_DATE),
    "period_to": _formatted(_DATE),
    "figures": _small_int,
    "epsilon_milli": _small_int,
    "opt_out_id": _record_id,
}


# The ``field`` label of ``gbo_audit_vocabulary_refused``: a leaf's fields, and its size.
LABELS = frozenset({"v", "id", "kind", "time", "network", "partner", "worker", "client",
                    "purpose", "sections", "policy_version", "consent_ids", "request_id",
                    "break_glass", "facts", "detail", "size"})


@dataclass
class GuardCounts:
    """Refusals per field since the process started (``gbo_audit_vocabulary_refused``) and
    log values redacted by the log formatter's guard (``gbo_log_values_redacted``)."""

    refused: dict[str, int] = field(default_factory=dict)
    redacted: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def refuse(self, where: str) -> None:
        top = where.split(".", 1)[0].split("[", 1)[0]
        if top not in LABELS:  # a metric label from a closed set, whatever the refused name
            top = "other"
        with self.lock:
            self.refused[top] = self.refused.get(top, 0) + 1

    def redact(self) -> None:
        with self.lock:
            self.redacted += 1


COUNTS = GuardCounts()


@dataclass(frozen=True)
class Vocabulary:
    """The closed sets of one broker: its registry's networks and partners, its catalogue's
    purposes and sections; and ``worker_ref(network, partner, sub)``, the keyed pseudonym a
    worker's token ``sub`` is logged as (``broker.store.keyring.Keyring.worker_ref``)."""

    networks: frozenset[str]
    partners: frozenset[str]
    purposes: frozenset[str]
    sections: frozenset[str]
    worker_ref: Callable[[str, str, str], str]

    def clear_worker(self, network: str, partner: str | None, subject: str | None) -> str | None:
        """DESIGN §9: the worker as the HMAC pseudonym of the token's ``sub``, never the raw
        value."""
        if subject is None:
            return None
        if network not in self.networks:
            return "w-?"  # no secret to key it with: the guard refuses the network first
        return self.worker_ref(network, partner or "", subject)

    def clear_purpose(self, purpose: str | None) -> str | None:
        """DESIGN §9: a purpose outside the catalogue is logged as ``unknown``."""
        if purpose is None:
            return None
        return purpose if purpose in self.purposes else UNKNOWN

    def clear_sections(
        self, sections: Mapping[str, Mapping[str, Any]] | None
    ) -> dict[str, dict[str, Any]] | None:
        """Per-section verdicts with every name outside the catalogue logged as ``unknown``
        (their verdicts merge: the policy denies an unknown section, always)."""
        if sections is None:
            return None
        out: dict[str, dict[str, Any]] = {}
        for name, verdict in sections.items():
            key = name if name in self.sections else UNKNOWN
            merged = out.setdefault(key, {"verdict": verdict.get("verdict"), "reasons": []})
            if verdict.get("verdict") != merged["verdict"]:
                merged["verdict"] = "denied"
            for reason in verdict.get("reasons", []):
                if reason not in merged["reasons"]:
                    merged["reasons"].append(reason)
        return out

    def check(self, entry: Mapping[str, Any]) -> None:
        """The guard at the audit boundary: raises ``AuditVocabularyRefused`` (and counts the
        field) unless every clear field of ``entry`` (``broker.store.audit_events.build_entry``)
        is in its closed set or broker-made format."""
        try:
            self._check(entry)
        except _Refusal as refusal:
            COUNTS.refuse(refusal.field)
            raise AuditVocabularyRefused(refusal.field, refusal.why) from None

    def _check(self, entry: Mapping[str, Any]) -> None:
        purposes = self.purposes | {UNKNOWN}
        sections = self.sections | {UNKNOWN}
        fields: dict[str, Callable[[object, str], None]] = {
            "v": _small_int,
            "id": _formatted(_UUID),
            "kind": _member(lambda: KINDS),
            "time": _time,
            "network": _member(lambda: self.networks),
            "partner": _optional(_member(lambda: self.partners)),
            "worker": _optional(_formatted(_WORKER)),
            "client": _optional(_formatted(_HEX32)),
            "purpose": _optional(_member(lambda: purposes)),
            "sections": lambda value, where: self._check_sections(value, where, sections),
            "policy_version": _optional(_formatted(_HEX64)),
            "consent_ids": _list_of(_record_id),
            "request_id": _optional(_formatted(_UUID)),
            "break_glass": _bool,
            "facts": self._check_facts,
            "detail": self._check_detail,
        }
        for name in entry:
            if name not in fields:
                raise _Refusal(name if not DIGIT_RUN.search(name) else "<field>", "unknown field")
        for name, check in fields.items():
            if name not in entry:
                raise _Refusal(name, "missing")
            check(entry[name], name)

    @staticmethod
    def _check_sections(value: object, where: str, sections: frozenset[str]) -> None:
        if not isinstance(value, dict) or len(value) > len(sections):
            raise _Refusal(where, "not a map of catalogue sections")
        for name, verdict in value.items():
            _member(lambda: sections)(name, f"{where}.<name>")
            if not isinstance(verdict, dict) or set(verdict) != {"verdict", "reasons"}:
                raise _Refusal(f"{where}.{name}", "not a verdict")
            if verdict["verdict"] not in ("granted", "denied"):
                raise _Refusal(f"{where}.{name}.verdict", "outside its closed set")
            _list_of(_code)(verdict["reasons"], f"{where}.{name}.reasons")

    @staticmethod
    def _check_facts(value: object, where: str) -> None:
        if not isinstance(value, dict):
            raise _Refusal(where, "not a map")
        for name, item in value.items():
            check = FACTS.get(name)
            if check is None:
                raise _Refusal(f"{where}.<name>", "unknown fact")
            check(item, f"{where}.{name}")

    @staticmethod
    def _check_detail(value: object, where: str) -> None:
        if value is None:
            return
        if not isinstance(value, dict) or set(value) != {"alg", "ct"} \
                or value["alg"] != "A256GCM":
            raise _Refusal(where, "not an encrypted detail")
        _formatted(_B64)(value["ct"], f"{where}.ct")


def check_leaf_size(leaf_bytes: int) -> None:
    """Raises ``AuditVocabularyRefused`` for an entry longer than a tile bundle can carry."""
    if leaf_bytes > MAX_LEAF_BYTES:
        COUNTS.refuse("size")
        raise AuditVocabularyRefused("size", f"longer than {MAX_LEAF_BYTES} bytes")


class GuardCollector:
    """Prometheus collector of :data:`COUNTS`: ``gbo_audit_vocabulary_refused_total`` by field
    (the field's name, never its value) and ``gbo_log_values_redacted_total``. Per process."""

    def collect(self) -> Iterable[Any]:
        from prometheus_client.core import CounterMetricFamily

        refused = CounterMetricFamily(
            "gbo_audit_vocabulary_refused",
            "Audit entries refused by the closed vocabulary's guard (DESIGN §9), by field",
            labels=["field"],
        )
        with COUNTS.lock:
            for name, count in sorted(COUNTS.refused.items()):
                refused.add_metric([name], count)
            redacted = COUNTS.redacted
        yield refused
        yield CounterMetricFamily(
            "gbo_log_values_redacted",
            "Log values whose runs of 9+ digits the log formatter's guard redacted (DESIGN §9)",
            value=redacted,
        )
