"""Errors of the consent package.

Every error has a stable snake_case ``code`` (the broker turns it into an RFC 9457 problem ``type``)
and a fixed, safe message. Messages never echo input: a rejected value may be an INSZ or free text
(DESIGN §3, §6 secrecy canaries). Where it helps, ``pointer`` names the offending field as a JSON
pointer (``/sections/2``), which carries no content.

Two families tell the caller how to answer:
- ``ConsentValidationError``: the request itself is wrong (HTTP 422 in the broker);
- ``ConsentStateError``: the request conflicts with the current state (HTTP 409 in the broker).
"""

from __future__ import annotations

from typing import ClassVar


class ConsentError(Exception):
    """Base of every consent error."""

    code: ClassVar[str] = "consent_error"
    message: ClassVar[str] = "The consent request could not be processed."

    def __init__(self, *, pointer: str | None = None) -> None:
        super().__init__(self.message)
        self.pointer = pointer

    def __str__(self) -> str:
        return self.message if self.pointer is None else f"{self.message} ({self.pointer})"


class InvalidCatalogue(ConsentError):
    code = "invalid_catalogue"
    message = "The section catalogue is malformed."


# --- the request is wrong -------------------------------------------------------------------------


class ConsentValidationError(ConsentError):
    code = "invalid_consent"
    message = "The consent is invalid."


class UnknownPurpose(ConsentValidationError):
    code = "unknown_purpose"
    message = "A purpose is not in the catalogue."


class UnknownSection(ConsentValidationError):
    code = "unknown_section"
    message = "A section is not in the catalogue."


class SectionNotShareable(ConsentValidationError):
    code = "section_not_shareable"
    message = "A section that is never shared (a worker's personal notes) was requested."


class EmptyRecipients(ConsentValidationError):
    code = "empty_recipients"
    message = "A consent needs at least one recipient."


class EmptyPurposes(ConsentValidationError):
    code = "empty_purposes"
    message = "A consent needs at least one purpose."


class EmptySections(ConsentValidationError):
    code = "empty_sections"
    message = "A consent needs at least one section."


class InvalidRecipientKind(ConsentValidationError):
    code = "invalid_recipient_kind"
    message = "A recipient kind must be partner, partner_type or network."


class UnknownPartner(ConsentValidationError):
    code = "unknown_partner"
    message = "A recipient partner is not registered in this network."


class UnknownPartnerType(ConsentValidationError):
    code = "unknown_partner_type"
    message = "A recipient partner type is not known."


class UnknownNetwork(ConsentValidationError):
    code = "unknown_network"
    message = "A recipient network is not the client's network."


class RecipientNotBoundBySecrecy(ConsentValidationError):
    code = "recipient_not_bound_by_secrecy"
    message = ("A recipient partner is not bound by professional secrecy: no consent can ever "
               "let it see a dossier (DESIGN §1).")


class PurposeNotByConsent(ConsentValidationError):
    code = "purpose_not_by_consent"
    message = ("This purpose is never granted by a consent (the emergency break-glass purpose, "
               "or a case consultation's legal basis), so a consent for it would mislead.")


class InvalidEvidence(ConsentValidationError):
    code = "invalid_evidence"
    message = "The evidence of how consent was obtained is incomplete or not allowed here."


class ValidFromInPast(ConsentValidationError):
    code = "valid_from_in_past"
    message = "valid_from lies in the past."


class ValidUntilInPast(ConsentValidationError):
    code = "valid_until_in_past"
    message = "valid_until lies in the past."


class ValidUntilTooFar(ConsentValidationError):
    code = "valid_until_too_far"
    message = "valid_until lies more than 24 months ahead."


class ValidFromAfterValidUntil(ConsentValidationError):
    code = "valid_from_after_valid_until"
    message = "valid_from must lie before valid_until."


class NotANarrowing(ConsentValidationError):
    code = "not_a_narrowing"
    message = "The change widens the consent or changes nothing; give a new consent instead."


class RelationEndInPast(ConsentValidationError):
    code = "relation_end_in_past"
    message = "The end of the help relation lies in the past."


class RelationEndTooFar(ConsentValidationError):
    code = "relation_end_too_far"
    message = "The end of the help relation lies more than 24 months after its start."


class ApprovalWidensRequest(ConsentValidationError):
    code = "approval_widens_request"
    message = "An approval may only drop purposes or sections or end earlier than the request."


class SelfMandate(ConsentValidationError):
    code = "self_mandate"
    message = "A client cannot name themselves as their own trusted person."


class InvalidFhirConsent(ConsentValidationError):
    code = "invalid_fhir_consent"
    message = "The FHIR Consent resource cannot be read as a GBO consent."


# --- the request conflicts with the current state -------------------------------------------------


class ConsentStateError(ConsentError):
    code = "consent_state_conflict"
    message = "The consent is not in a state that allows this change."


class ConsentNotActive(ConsentStateError):
    code = "consent_not_active"
    message = "The consent is revoked or expired."


class RequestNotPending(ConsentStateError):
    code = "consent_request_not_pending"
    message = "The consent request was decided already, withdrawn, or expired."


class AlreadyExcluded(ConsentStateError):
    code = "already_excluded"
    message = "This partner is excluded already."


class MandateNotValid(ConsentStateError):
    code = "mandate_not_valid"
    message = "The mandate is revoked or expired."


class RelationNotValid(ConsentStateError):
    code = "relation_not_valid"
    message = "The help relation is not valid now."


# --- receipts -------------------------------------------------------------------------------------


class ReceiptInvalid(ConsentError):
    """Opaque on purpose: whatever failed (key, header, signature, payload), one error."""

    code = "receipt_invalid"
    message = "The consent receipt does not verify."
