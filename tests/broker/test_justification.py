"""Break-glass needs a justification a reviewer can read (DESIGN §4): at least 30 visible
characters after Unicode NFKC normalisation, some letters, and more than one repeated character.
Over HTTP on both backends, against the real policy."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from broker.policy.inputs import justification_facts
from broker.settings import Settings
from tests.backends import on_backends
from tests.factories import VALID_INSZ, declare_relation, partner_auth

READABLE = "Client bewusteloos aangetroffen, acuut gevaar voor het leven."
INVISIBLE = {
    "zero_width_spaces": "\u200b" * 30,
    "byte_order_marks": "\ufeff" * 30,
    "hangul_fillers": "\u3164" * 30,
    "braille_blanks": "\u2800" * 30,
    "combining_marks": "\u0301" * 30,
    "dots": "." * 30,
    "one_letter_repeated": "a" * 30,
    "no_break_spaces": "\u00a0" * 30,
    "readable_but_padded_with_invisibles": "dringend " + "\u200b" * 40,
    "fullwidth_letters_of_one_kind": "\uff41" * 30,  # NFKC folds them to "a"
}


# The policy's verdict on the same stored facts; one row on both backends.
@on_backends("text", INVISIBLE, both={"zero_width_spaces"})
def test_invisible_or_meaningless_justification_breaks_no_glass(
    api: TestClient, settings: Settings, text: str
) -> None:
    declare_relation(api, settings)
    response = api.post("/v1/access-requests", json={
        "insz": VALID_INSZ, "purpose": "noodsituatie", "justification": text},
        headers=partner_auth(settings))
    assert response.status_code == 200, response.text
    for result in response.json()["sections"].values():
        assert result == {"verdict": "denied", "reasons": ["break_glass_justification_too_short"]}


def test_readable_justification_breaks_the_glass(api: TestClient, settings: Settings) -> None:
    declare_relation(api, settings)
    response = api.post("/v1/access-requests", json={
        "insz": VALID_INSZ, "purpose": "noodsituatie", "justification": READABLE},
        headers=partner_auth(settings))
    assert {s["verdict"] for s in response.json()["sections"].values()} == {"granted"}


@pytest.mark.parametrize(("text", "facts"), [
    (READABLE, {"visible": 54, "letters": 52, "distinct": 20}),
    ("  a\u200bb\u0301c  ", {"visible": 3, "letters": 3, "distinct": 3}),
    ("\uff21\uff22", {"visible": 2, "letters": 2, "distinct": 2}),
    (None, {"visible": 0, "letters": 0, "distinct": 0}),
], ids=["sentence", "invisibles_between_letters", "fullwidth", "none"])
def test_justification_is_measured_after_nfkc_on_visible_characters(
    text: str | None, facts: dict[str, int]
) -> None:
    assert justification_facts(text) == facts
