"""Referrals in the portals (DESIGN §2, §10): the client reads theirs in plain Dutch in /mijn;
auditors count referrals per partner and outcome in /audit/doorverwijzingen, within scope."""

from __future__ import annotations

from fastapi.testclient import TestClient

from broker.settings import Settings
from tests.broker.test_portal_audit import login as audit_login
from tests.broker.test_portal_audit import table
from tests.broker.test_portal_client import login as client_login
from tests.factories import VALID_INSZ, declare_relation, give_consent, partner_auth

OCMW, CAW, DMW = "ocmw-gent", "caw-oost-vlaanderen", "dmw-cm"


def _refer(api: TestClient, settings: Settings, to: str = CAW) -> str:
    response = api.post("/v1/referrals", json={"insz": VALID_INSZ, "to": to, "reason": "schulden",
                                               "sections": ["identiteit"]},
                        headers=partner_auth(settings, OCMW))
    assert response.status_code == 201, response.text
    referral_id: str = response.json()["id"]
    return referral_id


def _answer(api: TestClient, settings: Settings, partner: str, referral_id: str,
            step: str, body: dict[str, str] | None = None) -> None:
    response = api.post(f"/v1/referrals/{referral_id}/{step}", json=body,
                        headers=partner_auth(settings, partner))
    assert response.status_code == 200, response.text


def _scenario(api: TestClient, settings: Settings) -> None:
    """ocmw refers the client to caw (accepted, then dropped out) and to dmw (declined)."""
    declare_relation(api, settings, OCMW)
    give_consent(api, settings, recipients=[{"kind": "network", "id": "gbo-gent"}],
                 purposes=["doorverwijzing"], sections=["identiteit"])
    first = _refer(api, settings, CAW)
    _answer(api, settings, CAW, first, "accept")
    second = _refer(api, settings, DMW)
    _answer(api, settings, DMW, second, "decline", {"reason": "wachtlijst"})
    _refer(api, settings, CAW)


def test_client_reads_their_referrals_in_plain_dutch(api: TestClient, settings: Settings) -> None:
    _scenario(api, settings)
    client_login(api)
    page = api.get("/mijn")
    assert page.status_code == 200
    text = " ".join(page.text.split())
    assert "Mijn doorverwijzingen" in text
    assert ("Je bent doorverwezen naar <strong>CAW Oost-Vlaanderen</strong> — status: "
            "<strong>aangekomen</strong>") in text
    assert "status: <strong>niet aanvaard door de dienst</strong>" in text
    assert "status: <strong>voorgesteld, de dienst antwoordt nog</strong>" in text


def test_auditor_counts_referrals_per_partner_and_outcome(
    api: TestClient, settings: Settings
) -> None:
    _scenario(api, settings)
    audit_login(api)
    page = api.get("/audit/doorverwijzingen")
    assert page.status_code == 200
    assert VALID_INSZ not in page.text
    sent = {row[0]: row[1:] for row in table(page.text, "tabel-sent")}
    received = {row[0]: row[1:] for row in table(page.text, "tabel-received")}
    # columns: wacht, voorgesteld, aanvaard, geweigerd, afgerond, uitval, verlopen, geen, samen
    assert sent[f"OCMW Gent ({OCMW})"] == ["0", "1", "1", "1", "0", "0", "0", "0", "3"]
    assert received[f"CAW Oost-Vlaanderen ({CAW})"] == ["0", "1", "1", "0", "0", "0", "0", "0",
                                                        "2"]
    assert received[f"Dienst Maatschappelijk Werk CM ({DMW})"][3] == "1"


def test_partner_auditor_sees_only_its_own_partner(api: TestClient, settings: Settings) -> None:
    _scenario(api, settings)
    audit_login(api, f"partner:{CAW}")
    page = api.get("/audit/doorverwijzingen")
    assert [row[0] for row in table(page.text, "tabel-received")] == [
        f"CAW Oost-Vlaanderen ({CAW})"]
