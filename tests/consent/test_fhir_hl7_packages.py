"""The FHIR export checked against HL7's own published definitions, not our models: the R5 JSON
schema (``hl7.fhir.r5.core``), the Consent StructureDefinition's bindings, and the HL7
terminology (``hl7.terminology.r5``) — the packages HL7 publishes to the npm registry, which
``make test`` unpacks into ``.fhir-packages/``. An independent check of codes and shape: an HL7 code
we send must exist in HL7's code system, a required binding must hold, an extensible binding must
be met by at least one coding."""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from consent.fhir import to_fhir
from consent.fhir_terminology import CODE_SYSTEM_NAMES, code_system, consent_profile
from consent.models import ConsentStatus, ConsentVersion, Evidence, Grantor
from consent.publisher import EXAMPLE
from tests.consent.factories import CATALOGUE, DAY, NOW, make_consent, recipient

PACKAGES = Path(__file__).resolve().parents[2] / ".fhir-packages"
CORE_RESOURCE = "http://hl7.org/fhir/StructureDefinition/Consent"


def _package_file(package: str, name: str) -> Any:
    path = PACKAGES / package / "package" / name
    if not path.is_file():
        pytest.fail(f"HL7's FHIR package file {name} is missing: run "
                    "`make .fhir-packages/.installed` (`make test` does)")
    return json.loads(path.read_text(encoding="utf-8"))


@cache
def _schema_validator() -> jsonschema.protocols.Validator:
    schema = _package_file("core", "openapi/fhir.schema.json")
    root = {"$schema": schema["$schema"], "definitions": schema["definitions"]}
    cls = jsonschema.validators.validator_for(root)
    return cls({**root, "$ref": "#/definitions/ResourceList"})


@cache
def _hl7_code_systems() -> dict[str, dict[str, dict[str, Any]]]:
    """url -> code -> concept, for every HL7 code system the packages hold that we unpacked."""
    systems: dict[str, dict[str, dict[str, Any]]] = {}
    for package in ("core", "terminology"):
        for path in (PACKAGES / package / "package").glob("CodeSystem-*.json"):
            cs = json.loads(path.read_text(encoding="utf-8"))
            systems[cs["url"]] = {c["code"]: c for c in _flatten(cs.get("concept", []))}
    return systems


def _flatten(concepts: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for concept in concepts:
        yield concept
        yield from _flatten(concept.get("concept", []))


@cache
def _bindings() -> dict[str, tuple[str, str]]:
    """Element path -> (strength, value set url) from HL7's Consent StructureDefinition."""
    definition = _package_file("core", "StructureDefinition-Consent.json")
    return {e["path"]: (e["binding"]["strength"], e["binding"]["valueSet"].split("|")[0])
            for e in definition["snapshot"]["element"] if "binding" in e}


def _value_set(url: str) -> dict[str, Any]:
    name = url.rsplit("/", 1)[1]
    package = "terminology" if url.startswith("http://terminology.hl7.org/") else "core"
    return dict(_package_file(package, f"ValueSet-{name}.json"))


def _in_value_set(system: str, code: str, url: str) -> bool:
    """Whether (system, code) is in the value set, by its ``compose``: whole systems, listed
    concepts and ``is-a`` filters (walking ``subsumedBy`` in HL7's code system)."""
    for include in _value_set(url)["compose"]["include"]:
        if include.get("system") != system:
            continue
        if "concept" in include:
            if code in {c["code"] for c in include["concept"]}:
                return True
            continue
        filters = include.get("filter", [])
        if not filters:
            return True  # the whole system (codes checked against it separately)
        if all(f["op"] == "is-a" and _is_a(system, code, f["value"]) for f in filters):
            return True
    return False


def _is_a(system: str, code: str, ancestor: str) -> bool:
    concepts = _hl7_code_systems()[system]
    seen: set[str] = set()
    while code not in seen:
        if code == ancestor:
            return True
        seen.add(code)
        parents = [p["valueCode"] for p in concepts[code].get("property", [])
                   if p["code"] == "subsumedBy"]
        if not parents:
            return False
        code = parents[0]
    return False


def _codings(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if isinstance(node.get("system"), str) and "code" in node:
            yield node
        for value in node.values():
            yield from _codings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _codings(value)


EXPORTS: dict[str, tuple[ConsentVersion, ConsentStatus]] = {
    "default": (make_consent(), "active"),
    "every_purpose_bijzonder_and_representative": (make_consent(
        purposes=tuple(sorted(CATALOGUE.purposes)),
        sections=("inkomen", "gezondheid", "justitie"),
        recipients=(recipient("partner", "ocmw-gent"), recipient("partner_type", "caw"),
                    recipient("network", "gbo-gent")),
        grantor=Grantor(name="An Peeters", role="bewindvoerder"),
        evidence=Evidence(method="signed_paper", reference="P-1", recorded_by="w-1")), "active"),
    "revoked": (make_consent(version=2, revoked_at=NOW + DAY, created_at=NOW + DAY), "revoked"),
}


def _export(name: str) -> dict[str, Any]:
    consent, status = EXPORTS[name]
    resource = to_fhir(consent, status, publisher=EXAMPLE, catalogue=CATALOGUE,
                       receipt_jws="eyJhbGciOiJFZERTQSJ9.e30.c2ln")
    return dict(json.loads(resource.model_dump_json()))


@pytest.mark.parametrize("name", EXPORTS)
def test_export_is_valid_against_hl7s_r5_json_schema(name: str) -> None:
    errors = [e.message for e in _schema_validator().iter_errors(_export(name))]
    assert errors == []


def test_published_terminology_and_profile_are_valid_against_hl7s_r5_json_schema() -> None:
    resources = [code_system(n, catalogue=CATALOGUE, publisher=EXAMPLE) for n in CODE_SYSTEM_NAMES]
    resources.append(consent_profile(EXAMPLE))
    for resource in resources:
        assert [e.message for e in _schema_validator().iter_errors(resource)] == []
    assert consent_profile(EXAMPLE)["baseDefinition"] == CORE_RESOURCE


@pytest.mark.parametrize("name", EXPORTS)
def test_every_hl7_code_exists_in_hl7s_code_system(name: str) -> None:
    hl7 = [c for c in _codings(_export(name)) if "hl7.org" in c["system"]]
    assert hl7
    for coding in hl7:
        concepts = _hl7_code_systems().get(coding["system"])
        assert concepts is not None, f"an HL7 system we do not check: {coding['system']}"
        assert coding["code"] in concepts, coding
        display = concepts[coding["code"]].get("display")
        if "display" in coding and display is not None:
            assert coding["display"].lower() == display.lower(), coding


@pytest.mark.parametrize("name", EXPORTS)
def test_required_bindings_hold(name: str) -> None:
    data = _export(name)
    for path, value in (("Consent.status", data["status"]), ("Consent.decision", data["decision"])):
        strength, value_set = _bindings()[path]
        assert strength == "required"
        system = _value_set(value_set)["compose"]["include"][0]["system"]
        assert value in _hl7_code_systems()[system], (path, value)


@pytest.mark.parametrize("name", EXPORTS)
def test_extensible_bindings_are_met_by_a_coding(name: str) -> None:
    """``provision.actor.role`` (participation-role-type) and ``provision.purpose``
    (v3-PurposeOfUse): where a standard code exists we send it."""
    provision = _export(name)["provision"][0]
    strength, roles = _bindings()["Consent.provision.actor.role"]
    assert strength == "extensible"
    for actor in provision["actor"]:
        assert any(_in_value_set(c["system"], c["code"], roles) for c in actor["role"]["coding"])
    strength, purposes = _bindings()["Consent.provision.purpose"]
    assert strength == "extensible"
    standard = [c for c in provision["purpose"] if "hl7.org" in c["system"]]
    assert standard and all(_in_value_set(c["system"], c["code"], purposes) for c in standard)
