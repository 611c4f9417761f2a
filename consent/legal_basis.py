"""Legal bases for processing and sharing a client's data (DESIGN §3, §10), as codes of the
broker's own ``legal-basis`` code system: named in consent receipts and in FHIR
``Consent.regulatoryBasis``."""

from __future__ import annotations

LEGAL_BASES: dict[str, str] = {
    "gdpr-6-1-a": "AVG art. 6, lid 1, a): toestemming van de betrokkene",
    "gdpr-9-2-a": "AVG art. 9, lid 2, a): uitdrukkelijke toestemming voor bijzondere gegevens",
    "sw-458ter": "Strafwetboek art. 458ter: casusoverleg",
}


def consent_bases(special_category: bool) -> list[str]:
    """A consent's bases: GDPR art. 6(1)(a), and art. 9(2)(a) when it covers a special category
    (a section of tier ``bijzonder``)."""
    return ["gdpr-6-1-a", "gdpr-9-2-a"] if special_category else ["gdpr-6-1-a"]
