"""No cache keeps personal data (RFC 9111 §5.2.2.5): every API and portal response carries
``Cache-Control: no-store`` unless it is public and says how it may be cached itself."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from broker.settings import Settings
from tests.factories import (
    VALID_INSZ,
    auth,
    client_auth,
    declare_relation,
    issuer_token,
    make_entry,
    partner_auth,
)


def test_responses_with_personal_data_are_no_store(api: TestClient, settings: Settings) -> None:
    """Before: none of these said anything, so a shared cache or the browser could keep them."""
    declare_relation(api, settings)
    created = api.post("/v1/entries", json=make_entry(), headers=partner_auth(settings))
    access = api.post("/v1/access-requests", headers=partner_auth(settings),
                      json={"insz": VALID_INSZ, "purpose": "hulpvraagverheldering"})
    auditor = auth(issuer_token(settings, role="auditor", scope="supervisor"))
    responses = {
        "entry created": created,
        "access request": access,
        "dossier": api.get("/v1/me/dossier", headers=client_auth(settings)),
        "relations": api.get("/v1/me/relations", headers=client_auth(settings)),
        "consents": api.get("/v1/me/consents", headers=client_auth(settings)),
        "access log": api.get("/v1/me/access-log", headers=client_auth(settings)),
        "audit entries": api.get("/v1/audit/entries", headers=auditor),
        "audit leaf": api.get("/v1/audit/leaves/0", headers=auditor),
        "an error": api.get("/v1/me/dossier"),
        "a refused body": api.post("/v1/entries", content=b'{"a": NaN}',
                                   headers={**partner_auth(settings),
                                            "Content-Type": "application/json"}),
        "unknown path": api.get("/v1/nothing-here"),
        "portal page": api.get("/mijn"),
        "portal redirect": api.get("/mijn/dossier", follow_redirects=False),
    }
    for name, response in responses.items():
        assert response.status_code < 500, name
        assert response.headers.get("cache-control") == "no-store", name


@pytest.mark.parametrize(("path", "expected"), [
    ("/.well-known/jwks.json", "max-age=300"),
    ("/v1/audit/checkpoint", "no-cache"),
])
def test_public_responses_keep_their_own_caching(api: TestClient, path: str,
                                                 expected: str) -> None:
    assert api.get(path).headers["cache-control"] == expected


def test_static_files_are_not_marked_no_store(api: TestClient) -> None:
    response = api.get("/mijn/static/portal.css")
    assert response.status_code == 200
    assert "no-store" not in response.headers.get("cache-control", "")
