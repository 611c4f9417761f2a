"""New versions: first version, narrowing (accepted) vs widening (rejected), revocation."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest

from consent import errors
from consent.models import ConsentVersion, Evidence, NarrowChange, Recipient
from consent.rules import check_narrowing, consent_status
from consent.versions import build_consent, narrow, revoke
from tests.consent.factories import (
    CATALOGUE,
    CLIENT_REF,
    DAY,
    NETWORK,
    NOW,
    PARTNERS,
    make_consent,
    make_relation,
    make_terms,
    recipient,
)

PORTAL = Evidence(method="portal")
OCMW = recipient("partner", "ocmw-gent")
CAW = recipient("partner_type", "caw")
UNTIL = NOW + 300 * DAY


def _build(**overrides: Any) -> ConsentVersion:
    relation = overrides.pop("relation", None)
    terms, evidence = make_terms(**overrides)
    return build_consent(
        terms, consent_id="c-9", client_ref=CLIENT_REF, network=NETWORK, evidence=evidence,
        proof="attested", catalogue=CATALOGUE, partners=PARTNERS, now=NOW, relation=relation,
    )


def test_first_version_starts_now_and_drops_repeats() -> None:
    c = _build(sections=["inkomen", "rechten", "inkomen"])
    assert (c.version, c.previous_version_id, c.valid_from, c.created_at) == (1, None, NOW, NOW)
    assert c.sections == ("inkomen", "rechten")
    assert consent_status(c, NOW) == "active"


def test_build_rejects_invalid_terms() -> None:
    with pytest.raises(errors.UnknownSection):
        _build(sections=["hobby"])


@pytest.mark.parametrize(
    "relation",
    [None, make_relation(ended_at=NOW - DAY), make_relation(id="r-2"),
     make_relation(client_ref="p-other")],
    ids=["relation_missing", "relation_ended", "other_relation", "relation_of_other_client"],
)
def test_binding_to_a_relation_needs_that_relation_valid_now(relation: Any) -> None:
    with pytest.raises(errors.RelationNotValid):
        _build(help_relation_id="r-1", relation=relation)


def test_binding_to_a_valid_relation_accepted() -> None:
    assert _build(help_relation_id="r-1", relation=make_relation()).help_relation_id == "r-1"


OLD = dict(
    recipients=(OCMW, CAW),
    purposes=("rechtenverkenning", "rechtenrealisatie"),
    sections=("inkomen", "rechten", "schulden"),
    valid_until=UNTIL,
)


@pytest.mark.parametrize(
    ("new", "removed"),
    [
        ({"recipients": (OCMW,)}, {"removed_recipients": (CAW,)}),
        ({"purposes": ("rechtenrealisatie",)}, {"removed_purposes": ("rechtenverkenning",)}),
        ({"sections": ("rechten",)}, {"removed_sections": ("inkomen", "schulden")}),
        ({"valid_until": UNTIL - DAY}, {"new_valid_until": UNTIL - DAY}),
        ({"recipients": (CAW,), "sections": ("inkomen",)},
         {"removed_recipients": (OCMW,), "removed_sections": ("rechten", "schulden")}),
    ],
    ids=[
        "fewer_recipients",
        "fewer_purposes",
        "fewer_sections",
        "earlier_end",
        "fewer_recipients_and_sections",
    ],
)
def test_narrowing_accepted_and_reports_what_is_withdrawn(
    new: dict[str, Any], removed: dict[str, Any]
) -> None:
    diff = check_narrowing(make_consent(**OLD), make_consent(**{**OLD, **new}))
    expected: dict[str, Any] = {
        "removed_recipients": (), "removed_purposes": (), "removed_sections": (),
        "new_valid_until": None, **removed,
    }
    assert {k: getattr(diff, k) for k in expected} == expected


@pytest.mark.parametrize(
    "new",
    [
        {"recipients": (OCMW, CAW, recipient("network", NETWORK))},
        {"recipients": (OCMW, recipient("partner", "dmw-cm-gent"))},
        {"purposes": ("rechtenverkenning", "doorverwijzing")},
        {"sections": ("inkomen", "rechten", "schulden", "gezondheid")},
        {"sections": ("inkomen", "gezondheid")},
        {"valid_until": UNTIL + DAY},
        {},
    ],
    ids=[
        "added_recipient",
        "swapped_recipient",
        "added_purpose",
        "added_section",
        "swapped_section",
        "later_end",
        "nothing_changed",
    ],
)
def test_widening_or_no_change_rejected(new: dict[str, Any]) -> None:
    with pytest.raises(errors.NotANarrowing):
        check_narrowing(make_consent(**OLD), make_consent(**{**OLD, **new}))


def test_narrow_makes_linked_version_and_closes_old_one() -> None:
    old = make_consent(**OLD)
    result = narrow(old, NarrowChange(sections=("rechten",)), new_id="c-2", evidence=PORTAL,
                    now=NOW)
    assert (result.new.version, result.new.previous_version_id) == (2, old.id)
    assert result.new.valid_from == NOW and result.new.created_at == NOW
    assert result.new.sections == ("rechten",)
    assert result.diff.removed_sections == ("inkomen", "schulden")
    assert consent_status(result.closed, NOW) == "revoked"
    assert consent_status(result.new, NOW) == "active"
    assert result.closed.sections == old.sections  # history is not overwritten
    notice = json.loads(json.dumps(result.diff.as_dict()))
    assert notice["removed_sections"] == ["inkomen", "schulden"]
    assert notice["removed_recipients"] == [] and notice["valid_until_shortened"] is None


def test_narrowing_to_nothing_rejected() -> None:
    with pytest.raises(errors.EmptySections):
        narrow(make_consent(), NarrowChange(sections=()), new_id="c-2", evidence=PORTAL,
               now=NOW)


def test_narrow_that_widens_rejected() -> None:
    change = NarrowChange(recipients=(Recipient(kind="network", id=NETWORK),))
    with pytest.raises(errors.NotANarrowing):
        narrow(make_consent(), change, new_id="c-2", evidence=PORTAL, now=NOW)


@pytest.mark.parametrize(
    "overrides",
    [{"revoked_at": NOW - DAY}, {"valid_until": NOW - DAY, "valid_from": NOW - 10 * DAY}],
    ids=["revoked", "expired"],
)
def test_revoked_or_expired_consent_cannot_change(overrides: dict[str, Any]) -> None:
    c = make_consent(**overrides)
    with pytest.raises(errors.ConsentNotActive):
        revoke(c, now=NOW)
    with pytest.raises(errors.ConsentNotActive):
        narrow(c, NarrowChange(sections=("inkomen",)), new_id="c-2", evidence=PORTAL, now=NOW)


@pytest.mark.parametrize(
    "valid_from", [NOW - DAY, NOW + 10 * DAY], ids=["active", "not_yet_valid"]
)
def test_revoke_stamps_revoked_at(valid_from: datetime) -> None:
    revoked = revoke(make_consent(valid_from=valid_from), now=NOW)
    assert revoked.revoked_at == NOW
    assert consent_status(revoked, NOW) == "revoked"
