"""The consent and relation bodies of the v1 API: unknown fields rejected, INSZ checked and never
shown (DESIGN §3, §5)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from broker.schemas.consents import ConsentCreate, ConsentNarrow, ConsentVersionPublic
from broker.schemas.relations import HelpRelationCreate, HelpRelationPublic
from consent.insz import is_valid_insz
from tests.consent.factories import INSZ, NOW, make_consent, make_relation, terms_body


def make_consent_create(**overrides: Any) -> ConsentCreate:
    return ConsentCreate.model_validate({"insz": INSZ, **terms_body(**overrides)})


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("85073003328", True),
        ("01010100126", True),
        ("85073003329", False),
        ("8507300332", False),
        ("850730033280", False),
        ("85.07.30-033.28", False),
        ("８５０７３００３３２８", False),
    ],
    ids=[
        "born_before_2000",
        "born_after_2000",
        "wrong_check_digits",
        "too_short",
        "too_long",
        "formatted",
        "non_ascii_digits",
    ],
)
def test_insz_check(value: str, valid: bool) -> None:
    assert is_valid_insz(value) is valid


@pytest.mark.parametrize(
    "overrides",
    [
        {"unexpected": 1},
        {"evidence": {"method": "portal", "extra": "x"}},
        {"recipients": [{"kind": "partner", "id": "ocmw-gent", "name": "x"}]},
        {"grantor": {"name": "An", "role": "ouder", "insz": INSZ}},
    ],
    ids=["top_level", "in_evidence", "in_recipient", "in_grantor"],
)
def test_unknown_fields_rejected(overrides: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        make_consent_create(**overrides)


@pytest.mark.parametrize(
    "overrides",
    [
        {"insz": "85073003329"},
        {"valid_until": NOW.replace(tzinfo=None).isoformat()},
        {"grantor": {"name": "An", "role": "Bewindvoerder!"}},
        {"recipients": [{"kind": "partner", "id": "x" * 65}]},
    ],
    ids=["invalid_insz", "naive_valid_until", "malformed_grantor_role", "overlong_recipient_id"],
)
def test_malformed_fields_rejected(overrides: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        make_consent_create(**overrides)


def test_insz_not_in_repr_or_str_of_request() -> None:
    consent_in = make_consent_create()
    relation_in = HelpRelationCreate.model_validate({"insz": INSZ})
    for shown in (repr(consent_in), str(consent_in), repr(relation_in), str(relation_in)):
        assert INSZ not in shown


def test_invalid_insz_message_does_not_repeat_it() -> None:
    with pytest.raises(ValidationError) as caught:
        make_consent_create(insz="85073003329")
    assert all("85073003329" not in e["msg"] for e in caught.value.errors())


def test_narrowing_body_rejects_unknown_fields() -> None:
    with pytest.raises(ValidationError):
        ConsentNarrow.model_validate({"sections": ["inkomen"], "purposes_extra": []})



def test_public_view_carries_status_but_no_client_reference() -> None:
    shown = ConsentVersionPublic.of(make_consent(), status="active", change="created",
                                    recorded_by_partner=None, superseded=False
                                    ).model_dump(mode="json")
    assert shown["status"] == "active"
    assert "client_ref" not in shown and "insz" not in shown
    relation = HelpRelationPublic.of(make_relation(), valid=True).model_dump(mode="json")
    assert "client_ref" not in relation and relation["valid"] is True
