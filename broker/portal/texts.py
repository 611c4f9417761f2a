"""Plain Dutch (B1) for the portal (DESIGN §2): labels and one-line explanations of sections and
purposes (data: ``policies/catalogue.json``), policy reason codes, error codes, dates."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from broker.security.registry import Registry
from consent.models import Recipient

try:
    LOCAL_TZ: Any = ZoneInfo("Europe/Brussels")
except ZoneInfoNotFoundError:  # pragma: no cover - a system without tz data
    LOCAL_TZ = UTC

MONTHS = ("januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus",
          "september", "oktober", "november", "december")

PARTNER_TYPES = {
    "ocmw": ("alle OCMW's", "Het sociaal huis of OCMW van je gemeente."),
    "caw": ("alle CAW's", "Centra voor algemeen welzijnswerk."),
    "dmw": ("alle diensten maatschappelijk werk van de ziekenfondsen",
            "De sociale dienst van een ziekenfonds."),
    "other": ("alle andere partners", "Andere diensten in het netwerk."),
}

# Policy reason codes (policies/access.rego), said to the client.
REASONS = {
    "unknown_section": "Dit deel bestaat niet.",
    "section_never_shared": "Dit wordt nooit gedeeld, ook niet met je toestemming.",
    "requester_inactive": "Deze dienst is niet meer actief in het netwerk.",
    "requester_not_in_network": "Deze dienst hoort niet bij jouw netwerk.",
    "requester_not_bound_by_secrecy": "Deze dienst heeft geen beroepsgeheim.",
    "no_valid_help_relation": "Deze dienst helpt je nu niet.",
    "unknown_purpose": "Dit doel bestaat niet.",
    "section_not_needed_for_purpose": "Niet nodig voor dit doel.",
    "no_consent_for_section": "Je gaf hiervoor geen toestemming.",
    "bijzonder_needs_explicit_consent":
        "Gevoelige gegevens: je moet dit apart aanduiden in een toestemming.",
    "break_glass_justification_too_short": "De uitleg voor de noodsituatie is te kort.",
    "policy_error": "Er liep iets mis bij het nakijken. Uit voorzorg: niets.",
}

# Error codes of consent/ and broker/ (stable codes), said to the client.
ERRORS = {
    "unknown_purpose": "Kies een doel uit de lijst.",
    "unknown_section": "Kies gegevens uit de lijst.",
    "section_not_shareable": "Werkaantekeningen worden nooit gedeeld. Kies andere gegevens.",
    "empty_recipients": "Kies minstens één dienst die je gegevens mag zien.",
    "empty_purposes": "Kies minstens één doel.",
    "empty_sections": "Kies minstens één soort gegevens.",
    "invalid_recipient_kind": "Kies een dienst uit de lijst.",
    "unknown_partner": "Kies een dienst uit de lijst.",
    "unknown_partner_type": "Kies een soort dienst uit de lijst.",
    "unknown_network": "Kies een netwerk uit de lijst.",
    "recipient_not_bound_by_secrecy": "Deze dienst heeft geen beroepsgeheim en mag je gegevens "
                                      "nooit zien. Kies een andere dienst.",
    "purpose_not_by_consent": "Voor een noodsituatie is geen toestemming nodig. Kies een ander "
                              "doel.",
    "valid_until_in_past": "De einddatum ligt in het verleden. Kies een datum na vandaag.",
    "valid_until_too_far": "De einddatum mag ten hoogste 24 maanden na vandaag liggen.",
    "valid_until_missing": "Kies een einddatum.",
    "valid_until_invalid": "Schrijf de einddatum als jaar-maand-dag, bijvoorbeeld 2026-12-31.",
    "not_a_narrowing": "Je kan hier alleen iets weghalen of de einddatum vroeger zetten. "
                       "Wil je meer toelaten? Geef dan een nieuwe toestemming.",
    "consent_not_active": "Deze toestemming is al ingetrokken of verlopen. "
                          "Je kan ze niet meer wijzigen.",
    "relation_not_valid": "Deze hulpverlening loopt niet meer.",
    "unknown_preview_partner": "Kies een dienst voor het voorbeeld.",
    "audit_unavailable": "Het lukt nu even niet om dit veilig te bewaren. "
                         "Probeer het later opnieuw. Er is niets veranderd.",
    "audit_busy": "Het is nu even te druk om dit veilig te bewaren. "
                  "Probeer het over enkele seconden opnieuw. Er is niets veranderd.",
    "invalid_form": "Er klopt iets niet in het formulier. Kijk je keuzes na.",
}

STATUS = {"active": "Actief", "expired": "Verlopen", "revoked": "Ingetrokken",
          "not_yet_valid": "Nog niet begonnen"}
CHANGES = {"created": "Gegeven", "narrowed": "Beperkt", "revoked": "Ingetrokken"}
EVIDENCE = {"portal": "door jou, online", "signed_paper": "op papier ondertekend",
            "verbal_at_desk": "mondeling, aan de balie"}


def error_text(code: str) -> str:
    return ERRORS.get(code, ERRORS["invalid_form"])



def local(moment: datetime) -> datetime:
    return moment.astimezone(LOCAL_TZ)


def date_nl(moment: datetime | str | None) -> str:
    """``30 juli 2026`` (Belgian time)."""
    if moment is None:
        return ""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    m = local(moment)
    return f"{m.day} {MONTHS[m.month - 1]} {m.year}"


def datetime_nl(moment: datetime | str | None) -> str:
    """``30 juli 2026 om 14.05 uur`` (Belgian time)."""
    if moment is None:
        return ""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    m = local(moment)
    return f"{date_nl(m)} om {m.hour}.{m.minute:02d} uur"


def recipient_label(r: Recipient, registry: Registry) -> str:
    """Who a recipient is, in words: a partner's name, a kind of service, or the network."""
    if r.kind == "partner":
        partner = registry.partner(r.id)
        return partner.name if partner else r.id
    if r.kind == "partner_type":
        return PARTNER_TYPES.get(r.id, (r.id, ""))[0]
    network = registry.networks.get(r.id)
    return f"alle diensten van {network.name if network else r.id}"


def partner_name(partner_id: str | None, registry: Registry) -> str:
    if partner_id is None:
        return "onbekend"
    partner = registry.partner(partner_id)
    return partner.name if partner else partner_id
