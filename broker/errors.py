"""Every error of the broker package, each with a stable ``code`` and HTTP status.

One handler (``broker.problems``) renders them as RFC 9457 problem+json; routes never raise
``HTTPException`` for domain failures (STYLE.md, Errors). Messages are safe to show to the caller:
they never contain an INSZ or dossier content. The consent library's errors (``consent.errors``,
among them ``unknown_section`` and ``unknown_purpose``) are rendered by the same handler.
"""

from __future__ import annotations


class BrokerError(Exception):
    """Base of every broker error. ``code`` is stable API: clients may branch on it."""

    code: str = "broker_error"
    status: int = 500
    title: str = "Internal error"
    retry_after: int | None = None  # seconds, sent as ``Retry-After`` (RFC 9110 10.2.3)

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title

    def extensions(self) -> dict[str, object]:
        """Extension members of the problem (RFC 9457 §3.2); never an input value."""
        return {}


# --- start-up ---------------------------------------------------------------------------------


class ConfigurationError(BrokerError):
    """The broker is misconfigured and must not start (raised at start-up, not per request)."""

    code = "configuration_error"
    title = "The broker is not configured correctly"


class PolicyBundleError(Exception):
    """The policy bundle cannot be loaded (start-up only). ``code`` is stable and snake_case:
    ``invalid_path``, ``invalid_encoding``, ``invalid_json``, ``data_conflict``, ``no_policies``,
    ``unreadable``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


# --- who is asking ----------------------------------------------------------------------------


class AuthenticationError(BrokerError):
    """Any authentication failure. Deliberately opaque (STYLE.md: one generic 401)."""

    code = "unauthorized"
    status = 401
    title = "Authentication required"

    def __init__(self, reason: str = "invalid token") -> None:
        # The reason is for server-side debugging in tests only; it is never sent to the caller.
        super().__init__(self.title)
        self.reason = reason


class ForbiddenError(BrokerError):
    code = "forbidden"
    status = 403
    title = "This credential may not perform this action"


class RateLimited(BrokerError):
    """The partner or portal session went over its rate limit (``GBO_RATE_LIMIT_*``,
    docs/operations.md): nothing was done; ``Retry-After`` says when a token is back."""

    code = "rate_limited"
    status = 429
    title = "Too many requests; nothing was done. Try again after Retry-After seconds"

    def __init__(self, retry_after: int) -> None:
        super().__init__()
        self.retry_after = retry_after


class PresenceNotProven(BrokerError):
    """DESIGN §9: the eID proof of the client's presence does not hold. Deliberately opaque, like
    an authentication failure: whatever failed (challenge, chain, person, signature), one error.
    ``reason`` is for server-side tests only and is never sent to the caller."""

    code = "presence_not_proven"
    status = 403
    title = "The eID proof of presence is not valid"

    def __init__(self, reason: str = "invalid presence") -> None:
        super().__init__(self.title)
        self.reason = reason


class OidcError(Exception):
    """A portal login through OpenID Connect cannot go on. ``code``: ``unavailable`` (the
    provider did not answer, or not usefully) or ``rejected`` (it answered, but the code or the
    ID token is not acceptable). The message names the cause, never a token or claim value."""

    def __init__(self, code: str, cause: str) -> None:
        super().__init__(f"{code}: {cause}")
        self.code = code
        self.cause = cause


# --- clients, relations, consents -------------------------------------------------------------


class ClientErased(BrokerError):
    """The client's data key was destroyed (GDPR art. 17 crypto-shredding)."""

    code = "client_erased"
    status = 410
    title = "This client's data has been erased"


class ClientNotFound(BrokerError):
    code = "client_not_found"
    status = 404
    title = "No such client"


class NoValidHelpRelation(BrokerError):
    """DESIGN §1 condition 3 / §5: only a partner that helps the client now may act for it."""

    code = "no_valid_help_relation"
    status = 403
    title = "This partner has no valid help relation with the client"


class RelationNotFound(BrokerError):
    """Unknown, or another partner's: indistinguishable on purpose."""

    code = "relation_not_found"
    status = 404
    title = "No such help relation"


class ConsentNotFound(BrokerError):
    """Unknown, or another client's: indistinguishable on purpose."""

    code = "consent_not_found"
    status = 404
    title = "No such consent"


class NetworkRequired(BrokerError):
    code = "network_required"
    status = 422
    title = "This broker serves several networks: name the network of the consent"


class MandateNotFound(BrokerError):
    """Unknown, another person's, revoked or expired: indistinguishable on purpose."""

    code = "mandate_not_found"
    status = 404
    title = "No such mandate"


class ConsentRequestNotFound(BrokerError):
    """Unknown, or another client's or partner's: indistinguishable on purpose."""

    code = "consent_request_not_found"
    status = 404
    title = "No such consent request"


# --- casework: referrals and coordination (DESIGN §10) --------------------------------------


class ReferralNotFound(BrokerError):
    """Unknown, or not this partner's to see: indistinguishable on purpose."""

    code = "referral_not_found"
    status = 404
    title = "No such referral"


class ReferralNotOpen(BrokerError):
    """The referral's status does not allow this step (e.g. accepting a declined one)."""

    code = "referral_not_open"
    status = 409
    title = "The referral's status does not allow this step"


class UnknownReferralReason(BrokerError):
    code = "unknown_referral_reason"
    status = 422
    title = "The reason is not one of the catalogue's codes for it"


class SectionNotForReferral(BrokerError):
    """DESIGN §10: a referral hands over only sections its purpose (doorverwijzing) needs."""

    code = "section_not_for_referral"
    status = 422
    title = "A referral hands over only sections purpose doorverwijzing needs"


class ReferralToItself(BrokerError):
    code = "referral_to_itself"
    status = 422
    title = "A partner cannot refer a client to itself"


class ReferralTargetUnavailable(BrokerError):
    """The receiving partner is inactive, outside the referrer's network or not bound by
    professional secrecy (DESIGN §1)."""

    code = "referral_target_unavailable"
    status = 422
    title = "The receiving partner cannot take this referral"


class CoordinationRefused(BrokerError):
    """DESIGN §10: the policy does not let this partner coordinate (``reasons``: its codes)."""

    code = "coordination_refused"
    status = 403
    title = "This partner may not coordinate this client"


class DeadLetterNotFound(BrokerError):
    """Unknown, not dead (pending or delivered), or another partner's: indistinguishable."""

    code = "dead_letter_not_found"
    status = 404
    title = "No such dead letter"


class ExclusionNotFound(BrokerError):
    code = "exclusion_not_found"
    status = 404
    title = "No such exclusion"


class UnknownPartnerId(BrokerError):
    """A partner id that is not in the registry (or not in the client's networks)."""

    code = "unknown_partner"
    status = 422
    title = "The partner is not registered"


# --- signals (DESIGN §11) ----------------------------------------------------------------------


class IdentifyingText(BrokerError):
    """A signal's free text holds an INSZ, IBAN, e-mail address, phone number or a client's name:
    nothing was stored. ``spans`` marks where (field, offsets, kind), never the text."""

    code = "identifying_text"
    status = 422
    title = "The text identifies a person: remove the marked parts and send it again"

    def __init__(self, spans: list[dict[str, object]]) -> None:
        super().__init__()
        self.spans = spans

    def extensions(self) -> dict[str, object]:
        return {"spans": self.spans}


class SignalNotFound(BrokerError):
    """Unknown, or of another network: indistinguishable on purpose."""

    code = "signal_not_found"
    status = 404
    title = "No such signal"


class NotSignalOwner(BrokerError):
    code = "not_signal_owner"
    status = 403
    title = "Only the signal's owner or the network's coordinator may change its status or owner"


class CoordinatorRequired(BrokerError):
    code = "coordinator_required"
    status = 403
    title = "Only the network's coordinator (scope network:<id> with the signals right) may do this"


class BundleNotFound(BrokerError):
    """Unknown, or of another network: indistinguishable on purpose."""

    code = "bundle_not_found"
    status = 404
    title = "No such signal bundle"


class BundleReleased(BrokerError):
    code = "bundle_released"
    status = 409
    title = "The bundle is released: it can no longer change"


class BundleNotReleased(BrokerError):
    code = "bundle_not_released"
    status = 409
    title = "The bundle is a draft: its figures exist only once it is released"


class InvalidPeriod(BrokerError):
    code = "invalid_period"
    status = 422
    title = "The period must start on or before its end, lie within one calendar year and end "\
        "before today"


class PrivacyBudgetExhausted(BrokerError):
    """DESIGN §11: the release would spend more than the network's yearly privacy budget."""

    code = "privacy_budget_exhausted"
    status = 409
    title = "Releasing these figures would exceed the network's privacy budget for the year"


class AlreadyOptedOut(BrokerError):
    code = "already_opted_out"
    status = 409
    title = "You already opted out of secondary use"


class OptOutNotFound(BrokerError):
    code = "opt_out_not_found"
    status = 404
    title = "You have not opted out of secondary use"


class EntryNotFound(BrokerError):
    code = "entry_not_found"
    status = 404
    title = "No such dossier entry"


class EntryAlreadyRedacted(BrokerError):
    code = "entry_redacted"
    status = 409
    title = "This dossier entry was already redacted"


class ReviewRecordNotFound(BrokerError):
    code = "review_record_not_found"
    status = 404
    title = "No attested record waits for review under this id"


# --- case consultations (DESIGN §10) ---------------------------------------------------------


class CaseConsultationNotFound(BrokerError):
    """Unknown, or one the caller does not take part in: indistinguishable on purpose (DESIGN §4
    no existence leak)."""

    code = "case_consultation_not_found"
    status = 404
    title = "No such case consultation"


class CaseConsultationEnded(BrokerError):
    code = "case_consultation_ended"
    status = 409
    title = "This case consultation has ended already"


class UnknownLegalBasis(BrokerError):
    code = "unknown_legal_basis"
    status = 422
    title = "legal_basis.code is not a legal basis of the catalogue"


class LegalBasisReferenceRequired(BrokerError):
    code = "legal_basis_reference_required"
    status = 422
    title = "This legal basis needs its reference (legal_basis.reference)"


class ConsultationEndInPast(BrokerError):
    code = "consultation_end_in_past"
    status = 422
    title = "until must lie in the future"


class ConsultationTooLong(BrokerError):
    code = "consultation_too_long"
    status = 422
    title = "until may lie at most 6 months ahead"


class ParticipantNotEligible(BrokerError):
    """A participant that is not an active partner bound by professional secrecy, or the
    participants are not all of one network."""

    code = "participant_not_eligible"
    status = 422
    title = "Every participant must be an active partner of one network, bound by secrecy"


class InvalidCursor(BrokerError):
    code = "invalid_cursor"
    status = 422
    title = "The cursor is not one this feed returned"


# --- stored data ------------------------------------------------------------------------------


class DecryptionError(BrokerError):
    """A ciphertext did not authenticate: wrong key, wrong record, or tampering."""

    code = "decryption_failed"
    status = 500
    title = "Stored data could not be decrypted"


# --- the policy engine ------------------------------------------------------------------------


class PolicyEngineError(BrokerError):
    """The engine failed (parse error, builtin error, panic, unreachable server). The broker
    denies and audits; the message is never sent to a caller (it can quote input values)."""

    code = "policy_error"
    status = 500
    title = "The policy engine failed"


class MalformedDecision(ValueError):
    """The engine's answer is not a decision the broker can obey (it then fails closed)."""


class PolicyUnavailable(BrokerError):
    """A question only the policy can answer failed closed and there is nothing safe to show
    instead (the client's own view): the request fails and shows nothing."""

    code = "policy_unavailable"
    status = 503
    title = "The policy engine is unavailable; nothing is shown"


class Overloaded(BrokerError):
    """This worker already has as many requests in flight as it has database connections and
    threads for (``GBO_MAX_IN_FLIGHT``), or waited ``GBO_DB_POOL_TIMEOUT`` for a connection:
    refused at once, nothing done; the caller may retry shortly."""

    code = "overloaded"
    status = 503
    title = "The broker is busy; nothing was done. Try again shortly"
    retry_after = 1


# --- the audit log ----------------------------------------------------------------------------


class AuditUnavailable(BrokerError):
    """The log could not make the entry durable: the request fails and releases nothing."""

    code = "audit_unavailable"
    status = 503
    title = "The audit log is unavailable; nothing was released"


class AuditBusy(AuditUnavailable):
    """The log's writer already holds as many entries as it may (``GBO_AUDIT_MAX_PENDING``):
    refused at once, nothing logged, nothing released; the caller may retry shortly."""

    code = "audit_busy"
    title = "The audit log is busy; nothing was released. Try again shortly"
    retry_after = 1


class AuditSecretLeak(BrokerError):
    """An entry about to be logged contains a value that must never be logged."""

    code = "internal_error"
    title = "Internal error"


class AuditVocabularyRefused(BrokerError):
    """DESIGN §9: an entry about to be logged has a clear field outside its closed set (or a run
    of 9+ digits): nothing is logged or released. ``field`` and ``why`` name the rule, never the
    value."""

    code = "audit_entry_refused"
    title = "An audit entry was refused; nothing was released"

    def __init__(self, field: str, why: str) -> None:
        super().__init__(self.title)
        self.field = field
        self.why = why


class AuditIndexMismatch(BrokerError):
    """DESIGN §9: a stored row of the log's search index differs from its leaf: what was asked
    for cannot be answered truthfully until the log is repaired (``gbo-broker audit verify``)."""

    code = "audit_log_tampered"
    title = "The audit log failed verification; this answer cannot be trusted"


class InvalidProofRequest(BrokerError):
    code = "invalid_proof_request"
    status = 422
    title = "No such proof: check the indices and sizes against the current checkpoint"


class LeafNotFound(BrokerError):
    code = "leaf_not_found"
    status = 404
    title = "No such leaf"


# --- request bodies ---------------------------------------------------------------------------


class InvalidJSONBody(BrokerError):
    """DESIGN §5, §8: a request body the strict JSON reader (``broker.strict_json``) refuses.
    ``code`` is the reader's stable code (``invalid_json``, ``json_duplicate_key``, ...); the
    detail is the reader's fixed text, which never quotes the input."""

    title = "The request body is not acceptable JSON"

    def __init__(self, code: str, detail: str, status: int) -> None:
        super().__init__(detail)
        self.code = code
        self.status = status
