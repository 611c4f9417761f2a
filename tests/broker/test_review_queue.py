"""The supervisor's review queue over the v1 API (DESIGN §9): what a reviewer's identity may be.
Runs on SQLite and PostgreSQL (``api``)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from broker.settings import Settings
from tests.factories import auth, issuer_token, record_consent


def test_a_reviewer_with_a_long_subject_marks_a_record_reviewed(api: TestClient,
                                                                settings: Settings) -> None:
    """An identity provider's ``sub`` has no length limit; the stored reviewer does (64): it is
    cut, not a database error after the audit entry was written."""
    consent = record_consent(api, settings, "ocmw-gent", eid=False)["consent"]["id"]
    subject = "toezichthouder-" + "s" * 100
    token = auth(issuer_token(settings, role="auditor", scope="supervisor", sub=subject))
    marked = api.post(f"/v1/audit/review-queue/consent/{consent}", json={"note": "nagekeken"},
                      headers=token)
    assert marked.status_code == 200, marked.text
    assert marked.json()["reviewer"] == subject[:64]
    queue = api.get("/v1/audit/review-queue?reviewed=true", headers=auth(
        issuer_token(settings, role="auditor", scope="supervisor")))
    assert [r["reviewer"] for r in queue.json()["records"]] == [subject[:64]]


def test_a_fresh_broker_has_nothing_to_review(api: TestClient, settings: Settings) -> None:
    """The padding owner's stored records (migration 0012: relations "attested" on nobody's
    word, DESIGN §4) are in every database but are no record a supervisor reviews."""
    queue = api.get("/v1/audit/review-queue", headers=auth(
        issuer_token(settings, role="auditor", scope="supervisor")))
    assert queue.status_code == 200, queue.text
    assert queue.json()["records"] == []
