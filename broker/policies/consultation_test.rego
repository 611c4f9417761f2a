# Unit tests for the case consultation rules (DESIGN §10, consultation.rego), on the access
# decision. Run with `gbo-broker policy test`; tests/policy also runs them on the real OPA engine.
package gbo.consultation_test

import data.gbo.access

now := "2026-11-28T10:00:00Z"

caw := {
	"partner": "caw-oost-vlaanderen", "type": "caw", "network": "gbo-gent",
	"bound_by_secrecy": true, "worker": "w-7f3a", "active": true,
}

relation(partner) := {"id": concat("-", ["r", partner]), "partner": partner, "proof": "attested", "start": "2026-01-01T00:00:00Z", "end": "2027-01-01T00:00:00Z"}

consultation(over) := object.union(
	{
		"id": "cc-1", "client": "p-1",
		"participants": ["caw-oost-vlaanderen", "ocmw-gent"],
		"start": "2026-11-01T00:00:00Z", "until": "2027-02-01T00:00:00Z", "closed_at": null,
	},
	over,
)

# A participant asks for two sections of the purpose, with no consent at all.
req(over) := object.union(
	{
		"requester": caw,
		"client": {"ref": "p-1", "network": "gbo-gent", "help_relations": [relation("caw-oost-vlaanderen")], "exclusions": []},
		"purpose": "casusoverleg", "justification": null,
		"sections": ["identiteit", "justitie"],
		"entries": [{"id": "e-1", "section": "justitie", "author": "ocmw-gent", "restricted": false, "worker": "w-x"}],
		"consents": [], "consultations": [consultation({})], "now": now,
	},
	over,
)

granted_on_legal_basis(d, s) if {
	d.sections[s].verdict == "granted"
	d.sections[s].reasons == ["legal_basis"]
	d.sections[s].consents == []
}

denied_with(d, s, reason) if {
	d.sections[s].verdict == "denied"
	reason in d.sections[s].reasons
}

test_participant_granted_without_consent if {
	d := access.decision with input as req({})
	granted_on_legal_basis(d, "identiteit")
	granted_on_legal_basis(d, "justitie")
	d.release == ["e-1"]
	d.consultations == ["cc-1"]
}

test_release_carries_no_onward_disclosure_not_notify_client if {
	d := access.decision with input as req({})
	d.obligations == ["no_onward_disclosure"]
	d.break_glass == false
}

test_non_participant_denied if {
	d := access.decision with input as req({"consultations": [consultation({"participants": ["ocmw-gent", "dmw-cm"]})]})
	denied_with(d, "identiteit", "no_open_consultation")
	d.release == []
	d.consultations == []
	d.obligations == []
}

test_denied_without_any_consultation if {
	d := access.decision with input as req({"consultations": []})
	d.sections.identiteit.reasons == ["no_open_consultation"]
}

test_denied_when_consultations_missing if {
	d := access.decision with input as object.remove(req({}), ["consultations"])
	d.sections.identiteit.reasons == ["no_open_consultation"]
}

test_denied_after_end_date if {
	d := access.decision with input as req({"now": "2027-02-01T00:00:00Z"})
	denied_with(d, "identiteit", "no_open_consultation")
}

test_denied_before_start if {
	d := access.decision with input as req({"consultations": [consultation({"start": "2026-11-29T00:00:00Z"})]})
	denied_with(d, "identiteit", "no_open_consultation")
}

test_denied_after_close if {
	d := access.decision with input as req({"consultations": [consultation({"closed_at": "2026-11-28T09:59:59Z"})]})
	denied_with(d, "justitie", "no_open_consultation")
	d.release == []
}

test_granted_before_a_later_close if {
	d := access.decision with input as req({"consultations": [consultation({"closed_at": "2026-11-28T10:00:01Z"})]})
	granted_on_legal_basis(d, "identiteit")
}

test_malformed_close_denies if {
	d := access.decision with input as req({"consultations": [consultation({"closed_at": "gisteren"})]})
	denied_with(d, "identiteit", "no_open_consultation")
}

test_other_clients_consultation_denied if {
	d := access.decision with input as req({"consultations": [consultation({"client": "p-2"})]})
	denied_with(d, "identiteit", "no_open_consultation")
}

test_consent_never_opens_casusoverleg if {
	c := {
		"id": "c-1", "revoked_at": null, "help_relation": null, "proof": "client",
		"recorded_at": "2026-06-01T00:00:00Z", "valid_from": "2026-06-01T00:00:00Z",
		"valid_until": "2027-06-01T00:00:00Z",
		"recipients": [{"kind": "partner", "id": "caw-oost-vlaanderen"}],
		"purposes": ["casusoverleg"], "sections": ["identiteit", "justitie"],
	}
	d := access.decision with input as req({"consents": [c], "consultations": []})
	d.sections.identiteit.reasons == ["no_open_consultation"]
	d.sections.justitie.reasons == ["no_open_consultation"]
}

test_section_not_for_casusoverleg_denied if {
	d := access.decision with input as req({"sections": ["inkomen", "identiteit"]})
	d.sections.inkomen.reasons == ["section_not_needed_for_purpose"]
	granted_on_legal_basis(d, "identiteit")
}

test_werkaantekeningen_never_shared_in_consultation if {
	d := access.decision with input as req({"sections": ["werkaantekeningen"]})
	denied_with(d, "werkaantekeningen", "section_never_shared")
}

test_open_consultation_opens_no_other_purpose if {
	d := access.decision with input as req({"purpose": "rechtenverkenning", "sections": ["identiteit"]})
	d.sections.identiteit.reasons == ["no_consent_for_section"]
	d.consultations == []
}

test_help_relation_still_needed if {
	d := access.decision with input as req({"client": {"ref": "p-1", "network": "gbo-gent", "help_relations": [], "exclusions": []}})
	d.sections.identiteit.reasons == ["no_valid_help_relation"]
}

test_exclusion_still_holds if {
	d := access.decision with input as req({"client": {"ref": "p-1", "network": "gbo-gent", "help_relations": [relation("caw-oost-vlaanderen")], "exclusions": ["caw-oost-vlaanderen"]}})
	denied_with(d, "identiteit", "excluded_by_client")
	d.release == []
}

test_requester_outside_network_denied if {
	d := access.decision with input as req({"requester": object.union(caw, {"network": "gbo-brugge"})})
	denied_with(d, "identiteit", "requester_not_in_network")
}

test_padding_consultation_matches_nothing if {
	inert := {"id": null, "client": null, "participants": [], "start": "1970-01-01T00:00:00Z", "until": "1970-01-01T00:00:00Z", "closed_at": null}
	d := access.decision with input as req({"consultations": [inert, consultation({}), inert]})
	d.consultations == ["cc-1"]
	e := access.decision with input as req({"consultations": [inert, inert]})
	e.sections.identiteit.reasons == ["no_open_consultation"]
}

test_two_open_consultations_both_relied_on if {
	d := access.decision with input as req({"consultations": [consultation({}), consultation({"id": "cc-2"})]})
	d.consultations == ["cc-1", "cc-2"]
}
