"""Plain Dutch (B1) for the portal (DESIGN §2): labels and one-line explanations of sections and
purposes (data: ``broker/policies/catalogue.json``), policy reason codes, error codes, dates."""

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

# Policy reason codes (broker/policies/*.rego), said to the client.
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
    # DESIGN §10: a coordinator needs consent for gezamenlijke_begeleiding
    "no_consent_for_purpose": "Je gaf geen toestemming voor dit doel.",
    "bijzonder_needs_explicit_consent":
        "Gevoelige gegevens: je moet dit apart aanduiden in een toestemming.",
    "break_glass_justification_too_short": "De uitleg voor de noodsituatie is te kort.",
    "needs_client_proof": "Je toestemming werd alleen op het woord van de hulpverlener "
                          "genoteerd. Dat is niet genoeg voor deze gegevens.",
    "excluded_by_client": "Je hebt deze dienst uitgesloten. Ze krijgt niets.",
    "no_open_consultation": "Er loopt geen casusoverleg over jou waaraan deze dienst deelneemt.",
    # DESIGN §10: the ground of a grant without consent, not a refusal
    "legal_basis": "Zonder je toestemming, in een casusoverleg dat de wet toelaat.",
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
    "overloaded": "Het is nu even te druk. Probeer het over enkele seconden opnieuw. "
                  "Er is niets veranderd.",
    "invalid_form": "Er klopt iets niet in het formulier. Kijk je keuzes na.",
    # DESIGN §9: consent requests, exclusions, mandates.
    "consent_request_not_found": "Deze vraag om toestemming bestaat niet.",
    "consent_request_not_pending": "Over deze vraag is al beslist, of ze is verlopen. "
                                   "Je kan ze niet meer goedkeuren of weigeren.",
    "approval_widens_request": "Je kan alleen minder toelaten dan de dienst vroeg: een doel of "
                               "gegevens weghalen, of een vroegere einddatum kiezen.",
    "already_excluded": "Deze dienst is al uitgesloten.",
    "exclusion_not_found": "Deze uitsluiting bestaat niet of is al opgeheven.",
    "already_opted_out": "Je telt al niet mee in de cijfers.",
    "opt_out_not_found": "Je telde al mee in de cijfers.",
    "identifying_text": "De tekst noemt iemand: een rijksregisternummer, rekeningnummer, "
    "e-mailadres, telefoonnummer of de naam van een cliënt. Haal dat weg en probeer opnieuw.",
    "signal_not_found": "Dit signaal bestaat niet in dit netwerk.",
    "bundle_not_found": "Deze bundel bestaat niet.",
    "bundle_released": "Deze bundel is al vrijgegeven en verandert niet meer.",
    "privacy_budget_exhausted": "Deze bundel vrijgeven zou het privacybudget van het netwerk "
    "voor dit jaar overschrijden. Er is niets vrijgegeven.",
    "invalid_period": "Kies een periode binnen één kalenderjaar die al voorbij is, met de "
    "begindatum voor de einddatum.",
    "self_mandate": "Je kan jezelf niet als vertrouwenspersoon kiezen. Vul het "
                    "rijksregisternummer van iemand anders in.",
    "mandate_not_valid": "Deze volmacht geldt niet meer.",
    "mandate_not_found": "Deze volmacht bestaat niet of geldt niet meer.",
    "invalid_insz": "Dit rijksregisternummer klopt niet. Het heeft 11 cijfers. Je vindt het op "
                    "de achterkant van de identiteitskaart.",
    "mandatary_name_missing": "Vul de naam van je vertrouwenspersoon in.",
    "own_name_missing": "Vul je eigen naam in, zoals je vertrouwenspersoon je kent.",
    "name_too_long": "Een naam mag ten hoogste 100 tekens lang zijn.",
    "acting_for_someone": "Je handelt nu namens iemand anders. Ga eerst terug naar je eigen "
                          "gegevens om zelf een vertrouwenspersoon te kiezen.",
    "network_required": "Kies een netwerk.",
}

# The supervisor's review queue (DESIGN §9), said to an auditor.
REVIEW_ERRORS = {
    "note_missing": "Schrijf een korte notitie bij je nazicht.",
    "note_too_long": "Je notitie is te lang: ten hoogste 500 tekens.",
    "review_record_not_found": "Dit item staat niet meer in de wachtrij: het werd al nagekeken, "
                               "of het bestaat niet.",
    "audit_unavailable": "Het lukt nu even niet om dit veilig te bewaren. Probeer het later "
                         "opnieuw. Er is niets veranderd.",
}

STATUS = {"active": "Actief", "expired": "Verlopen", "revoked": "Ingetrokken",
          "not_yet_valid": "Nog niet begonnen"}
CHANGES = {"created": "Gegeven", "narrowed": "Beperkt", "revoked": "Ingetrokken"}
EVIDENCE = {"portal": "door jou, online", "signed_paper": "op papier ondertekend",
            "verbal_at_desk": "mondeling, aan de balie"}
# DESIGN §9: how the client's will (or presence) was proven.
PROOFS = {"client": "door jou zelf, online", "eid": "met je identiteitskaart",
          "attested": "op het woord van de hulpverlener", "referral": "na een doorverwijzing"}
REQUEST_STATUS = {"pending": "Wacht op je antwoord", "approved": "Goedgekeurd",
                  "refused": "Geweigerd", "expired": "Verlopen",
                  "withdrawn": "Ingetrokken door de dienst"}
MANDATE_ROLES = {"trusted_person": "vertrouwenspersoon",
                 "legal_representative": "wettelijke vertegenwoordiger"}
RECORD_KINDS = {"consent": "Toestemming", "relation": "Hulpverleningsrelatie"}


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


def month_nl(value: str) -> str:
    """``2026-12`` as ``december 2026``; anything else unchanged."""
    year, _, month = value.partition("-")
    if not (year.isdigit() and month.isdigit() and 1 <= int(month) <= 12):
        return value
    return f"{MONTHS[int(month) - 1]} {year}"
