"""Plain Dutch for every code the client portal may meet (DESIGN §2, §9): each policy reason code
of ``broker/policies/access.rego``, each error code of the consent requests, exclusions and
mandates, and each proof level, says something in Dutch (never the code, never the fallback). The
reasons ``needs_client_proof`` and ``excluded_by_client`` are shown on a real page. Runs on
SQLite and PostgreSQL where a page is involved (``api``)."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from broker import errors as broker_errors
from broker.portal import forms, texts
from broker.settings import DEFAULT_POLICY_DIR, Settings
from consent import errors
from consent.models import PROOFS
from tests.broker.test_portal_client import AN, login
from tests.factories import client_auth, record_consent

# code -> (the error a service raises, the HTTP status of the page, words of its Dutch text)
ERRORS = {
    "consent_request_not_pending": (errors.RequestNotPending(), 409, "al beslist"),
    "approval_widens_request": (errors.ApprovalWidensRequest(), 422, "alleen minder toelaten"),
    "already_excluded": (errors.AlreadyExcluded(), 409, "al uitgesloten"),
    "self_mandate": (errors.SelfMandate(), 422, "jezelf niet als vertrouwenspersoon"),
    "mandate_not_valid": (errors.MandateNotValid(), 409, "volmacht geldt niet meer"),
    "mandate_not_found": (broker_errors.MandateNotFound(), 404, "volmacht bestaat niet"),
    "consent_request_not_found": (broker_errors.ConsentRequestNotFound(), 404,
                                  "vraag om toestemming bestaat niet"),
    "exclusion_not_found": (broker_errors.ExclusionNotFound(), 404, "uitsluiting bestaat niet"),
    "unknown_partner": (broker_errors.UnknownPartnerId(), 422, "Kies een dienst uit de lijst"),
}


@pytest.mark.parametrize("code", list(ERRORS))
def test_each_error_code_is_said_in_dutch(code: str) -> None:
    exc, status, words = ERRORS[code]
    assert exc.code == code
    message, answered = forms.failure(exc)
    assert words in message and message != texts.ERRORS["invalid_form"]
    assert answered == status


def test_every_reason_code_of_the_policy_is_said_in_dutch() -> None:
    policy = "".join(p.read_text() for p in sorted(DEFAULT_POLICY_DIR.glob("*.rego"))
                     if not p.name.endswith("_test.rego"))
    # per section (``denials contains [s, "code"]``) and per question (``requester_denials
    # contains "code"``, the coordinator's ``denials contains "code"``)
    codes = set(re.findall(r'denials contains (?:\[s, )?"([a-z_]+)"', policy))
    assert {"needs_client_proof", "excluded_by_client", "no_open_consultation"} <= codes
    assert "legal_basis" in texts.REASONS  # DESIGN §10: the ground of a grant without consent
    assert codes <= set(texts.REASONS), codes - set(texts.REASONS)


def test_every_proof_level_is_said_in_dutch() -> None:
    assert set(texts.PROOFS) == PROOFS
    assert texts.PROOFS["eid"] == "met je identiteitskaart"
    assert texts.PROOFS["attested"] == "op het woord van de hulpverlener"


def test_the_preview_says_why_an_attested_consent_or_an_exclusion_opens_nothing(
    api: TestClient, settings: Settings
) -> None:
    # OCMW Gent records An's consent for inkomen and huisvesting on its worker's word only.
    record_consent(api, settings, "ocmw-gent", eid=False,
                   recipients=[{"kind": "partner", "id": "ocmw-gent"}])
    login(api, AN)
    path = "/mijn/voorbeeld?partner=ocmw-gent&doel=rechtenverkenning"
    attested = api.get(path).text
    assert texts.REASONS["needs_client_proof"] in attested
    assert "op het woord van de hulpverlener" in attested
    excluded = api.post("/v1/me/exclusions", json={"partner": "ocmw-gent"},
                        headers=client_auth(settings))
    assert excluded.status_code == 201
    assert "Je hebt deze dienst uitgesloten. Ze krijgt niets." in api.get(path).text
