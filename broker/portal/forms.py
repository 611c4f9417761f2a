"""Reading the portal's consent forms into the v1 API's request models (DESIGN §2), so the same
validation (``consent.versions`` via ``broker.services.consents``) decides. Only the form's own
syntax (recipient values, dates) is checked here; every rule of a consent stays in
``consent/``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from pydantic import ValidationError

from broker.bounds import is_day_within_window
from broker.errors import BrokerError
from broker.portal.texts import LOCAL_TZ, error_text, local
from broker.schemas.consent_requests import ApprovalIn
from broker.schemas.consents import ConsentNarrow, MeConsentCreate
from consent import errors
from consent.models import ConsentTerms, ConsentVersion, NarrowChange, Recipient
from consent.rules import add_months

_KINDS = ("partner", "partner_type", "network")
FormData = Mapping[str, list[str]]


class FormError(Exception):
    """The form cannot be read; ``code`` picks the Dutch message (``texts.ERRORS``)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


# What a change through a form may raise: the form's own errors, and the services'.
CHANGE_ERRORS = (FormError, errors.ConsentError, BrokerError)


def failure(exc: Exception) -> tuple[str, int]:
    """The Dutch message and HTTP status of a failed change (nothing was stored)."""
    if isinstance(exc, FormError):
        return error_text(exc.code), 422
    if isinstance(exc, errors.ConsentStateError):
        return error_text(exc.code), 409
    if isinstance(exc, errors.ConsentValidationError):
        return error_text(exc.code), 422
    if isinstance(exc, BrokerError) and exc.status in (404, 409, 422, 503):
        return error_text(exc.code), exc.status
    return error_text("invalid_form"), 422


@dataclass
class Chosen:
    """What the client chose, to fill the form again after an error or a preview."""

    recipients: set[str] = field(default_factory=set)
    purposes: set[str] = field(default_factory=set)
    sections: set[str] = field(default_factory=set)
    valid_until: str = ""
    preview_partner: str = ""
    preview_purpose: str = ""

    @classmethod
    def from_form(cls, form: FormData) -> Chosen:
        return cls(
            recipients=set(form.get("recipient", [])), purposes=set(form.get("purpose", [])),
            sections=set(form.get("section", [])),
            valid_until=(form.get("valid_until") or [""])[0].strip(),
            preview_partner=(form.get("preview_partner") or [""])[0].strip(),
            preview_purpose=(form.get("preview_purpose") or [""])[0].strip(),
        )

    @classmethod
    def from_consent(cls, c: ConsentVersion) -> Chosen:
        return cls(recipients={recipient_value(r) for r in c.recipients},
                   purposes=set(c.purposes), sections=set(c.sections),
                   valid_until=local(c.valid_until).date().isoformat())


def recipient_value(r: Recipient) -> str:
    return f"{r.kind}:{r.id}"


def parse_recipients(values: list[str]) -> list[dict[str, str]]:
    out = []
    for value in values:
        kind, sep, ident = value.partition(":")
        if not sep or kind not in _KINDS or not ident:
            raise FormError("invalid_recipient_kind")
        out.append({"kind": kind, "id": ident})
    return out


def parse_end_date(value: str) -> datetime:
    """The end of the chosen day, Belgian time: a consent 'until 31 December' covers that day."""
    if not value:
        raise FormError("valid_until_missing")
    try:
        day = date.fromisoformat(value)
    except ValueError as exc:
        raise FormError("valid_until_invalid") from exc
    if not is_day_within_window(day):  # DESIGN §8: a far day overflows the conversion to UTC
        raise FormError("valid_until_invalid")
    return datetime.combine(day, time(23, 59, 59), tzinfo=LOCAL_TZ)


def default_end(now: datetime) -> str:
    """Twelve months ahead (the usual length of a help relation, DESIGN §3)."""
    return local(add_months(now, 12)).date().isoformat()


def latest_end(now: datetime) -> str:
    """The last day the 24-month limit (DESIGN §3) still allows."""
    return (local(add_months(now, 24)).date() - timedelta(days=1)).isoformat()


def _validated(model: type[Any], data: dict[str, Any]) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise FormError("invalid_form") from exc


def consent_terms(form: FormData) -> MeConsentCreate:
    """Raises ``FormError``. Empty lists pass here: ``consent.rules`` names them."""
    terms: MeConsentCreate = _validated(MeConsentCreate, {
        "recipients": parse_recipients(form.get("recipient", [])),
        "purposes": list(form.get("purpose", [])),
        "sections": list(form.get("section", [])),
        "valid_until": parse_end_date((form.get("valid_until") or [""])[0].strip()),
    })
    return terms


def narrow_change(form: FormData, head: ConsentVersion) -> NarrowChange:
    """A narrowing from the form. An unchanged end date keeps the current end (the form shows
    only the day). Raises ``FormError``."""
    chosen_end = (form.get("valid_until") or [""])[0].strip()
    same_day = chosen_end == local(head.valid_until).date().isoformat()
    body: ConsentNarrow = _validated(ConsentNarrow, {
        "recipients": parse_recipients(form.get("recipient", [])),
        "purposes": list(form.get("purpose", [])),
        "sections": list(form.get("section", [])),
        "valid_until": None if same_day else parse_end_date(chosen_end),
    })
    return body.change()


def approval_change(form: FormData, asked: ConsentTerms) -> NarrowChange | None:
    """An approval narrower than the request (DESIGN §9) from the form, as
    ``POST /v1/me/consent-requests/{id}/approve`` reads it. An unchanged end date keeps the
    request's end. Raises ``FormError``."""
    chosen_end = (form.get("valid_until") or [""])[0].strip()
    same_day = chosen_end == local(asked.valid_until).date().isoformat()
    body: ApprovalIn = _validated(ApprovalIn, {
        "purposes": list(form.get("purpose", [])),
        "sections": list(form.get("section", [])),
        "valid_until": None if same_day else parse_end_date(chosen_end),
    })
    return body.change()
