"""The catalogue is data: read from broker/policies/catalogue.json, refused when malformed."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from consent.catalogue import Catalogue
from consent.errors import InvalidCatalogue
from tests.consent.factories import CATALOGUE, CATALOGUE_PATH

RAW: dict[str, Any] = json.loads(CATALOGUE_PATH.read_text(encoding="utf-8"))


def test_real_catalogue_tiers() -> None:
    tiers = {name: info.tier for name, info in CATALOGUE.sections.items()}
    assert {s for s, t in tiers.items() if t == "bijzonder"} == {
        "gezondheid", "justitie", "verblijfsstatus"}
    assert [s for s, i in CATALOGUE.sections.items() if not i.is_shareable] == [
        "werkaantekeningen"]
    assert CATALOGUE.purposes["noodsituatie"].break_glass is True
    assert CATALOGUE.purposes["rechtenverkenning"].break_glass is False


def _drop_sections(raw: dict[str, Any]) -> None:
    del raw["sections"]


def _unknown_tier(raw: dict[str, Any]) -> None:
    raw["sections"]["inkomen"]["tier"] = "openbaar"


def _purpose_needs_unknown_section(raw: dict[str, Any]) -> None:
    raw["purposes"]["doorverwijzing"]["sections"].append("hobby")


def _label_missing(raw: dict[str, Any]) -> None:
    del raw["purposes"]["doorverwijzing"]["label"]


def _no_purposes(raw: dict[str, Any]) -> None:
    raw["purposes"] = {}


def _section_not_an_object(raw: dict[str, Any]) -> None:
    raw["sections"]["inkomen"] = "vertrouwelijk"


@pytest.mark.parametrize(
    "damage",
    [_drop_sections, _unknown_tier, _purpose_needs_unknown_section, _label_missing, _no_purposes,
     _section_not_an_object],
    ids=["no_sections", "unknown_tier", "purpose_needs_unknown_section", "label_missing",
         "no_purposes", "section_not_an_object"],
)
def test_malformed_catalogue_refused(damage: Callable[[dict[str, Any]], None]) -> None:
    raw = copy.deepcopy(RAW)
    damage(raw)
    with pytest.raises(InvalidCatalogue):
        Catalogue.from_dict(raw)


def test_real_catalogue_has_the_referral_code_lists() -> None:
    # DESIGN §10: a referral's reason and a decline's reason come from closed lists.
    assert "schulden" in CATALOGUE.code_list("referral_reason")
    assert "wachtlijst" in CATALOGUE.code_list("referral_decline")
    assert CATALOGUE.code_list("no_such_list") == {}


def _code_with_digits(raw: dict[str, Any]) -> None:
    raw["codes"]["referral_reason"]["schulden_85073003328"] = "Schulden"


def _empty_code_list(raw: dict[str, Any]) -> None:
    raw["codes"]["referral_decline"] = {}


def _label_not_text(raw: dict[str, Any]) -> None:
    raw["codes"]["referral_reason"]["schulden"] = 7


@pytest.mark.parametrize("damage", [_code_with_digits, _empty_code_list, _label_not_text],
                         ids=["code_with_digits", "empty_list", "label_not_text"])
def test_malformed_code_list_refused(damage: Callable[[dict[str, Any]], None]) -> None:
    raw = copy.deepcopy(RAW)
    damage(raw)
    with pytest.raises(InvalidCatalogue):
        Catalogue.from_dict(raw)
