"""Who speaks in the broker's consent records: the canonical base of its FHIR code systems and
identifiers, the controller named in receipts and FHIR, and the issuer of signed receipts.

A deployment configures these (``GBO_FHIR_BASE``, ``GBO_CONTROLLER_*``, ``GBO_PRIVACY_NOTICE_URL``);
nothing here is a hard-coded address. ``consent/`` only receives the values (pure core)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class Controller:
    """The controller of the consent records (Kantara CR 1.1 ``piiControllers``; ISO/IEC TS 27560
    ``controller``; FHIR ``Consent.controller``/``manager``): name, contact and privacy notice."""

    id: str
    name: str
    contact_email: str
    privacy_notice_url: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Publisher:
    """``fhir_base``: canonical base URL of the code systems, identifier systems and profile,
    without a trailing slash (the broker serves them under ``/fhir``). ``issuer``: ``iss`` of the
    signed receipts."""

    fhir_base: str
    issuer: str
    controller: Controller

    def __post_init__(self) -> None:
        if self.fhir_base.endswith("/"):
            object.__setattr__(self, "fhir_base", self.fhir_base.rstrip("/"))


# For unit tests and tools that need some publisher; a deployment always configures its own.
EXAMPLE = Publisher(
    fhir_base="https://gbo.example.org/fhir",
    issuer="https://gbo.example.org",
    controller=Controller(
        id="gbo-netwerk", name="GBO-netwerk (voorbeeld)", contact_email="dpo@gbo.example.org",
        privacy_notice_url="https://gbo.example.org/privacy",
    ),
)
