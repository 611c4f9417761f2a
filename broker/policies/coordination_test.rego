# Unit tests for data.gbo.coordination (DESIGN §10): who may keep the overview of a client.
package gbo.coordination_test

import data.gbo.coordination

now := "2026-11-28T10:00:00Z"

ocmw := {
	"partner": "ocmw-gent", "type": "ocmw", "network": "gbo-gent",
	"bound_by_secrecy": true, "worker": "w-1", "active": true,
}

relation := {"id": "r-1", "partner": "ocmw-gent", "proof": "eid", "start": "2026-01-01T00:00:00Z", "end": "2027-01-01T00:00:00Z"}

joint(over) := object.union(
	{
		"id": "c-1", "revoked_at": null, "help_relation": null,
		"proof": "client", "recorded_at": "2026-06-01T00:00:00Z",
		"valid_from": "2026-06-01T00:00:00Z", "valid_until": "2027-06-01T00:00:00Z",
		"recipients": [{"kind": "network", "id": "gbo-gent"}],
		"purposes": ["gezamenlijke_begeleiding"], "sections": ["identiteit"],
	},
	over,
)

ask(over) := object.union(
	{
		"requester": ocmw,
		"client": {"ref": "p-1", "network": "gbo-gent", "help_relations": [relation], "exclusions": []},
		"purpose": "gezamenlijke_begeleiding", "justification": null,
		"sections": [], "entries": [], "consents": [joint({})], "now": now,
	},
	over,
)

test_allowed_with_joint_consent_and_relation if {
	coordination.coordination == {"allowed": true, "reasons": []} with input as ask({})
}

test_refused_without_consent if {
	d := coordination.coordination with input as ask({"consents": []})
	d == {"allowed": false, "reasons": ["no_consent_for_purpose"]}
}

test_refused_with_consent_for_another_purpose if {
	d := coordination.coordination with input as ask({"consents": [joint({"purposes": ["doorverwijzing"]})]})
	d.reasons == ["no_consent_for_purpose"]
}

test_refused_with_consent_for_another_partner if {
	c := joint({"recipients": [{"kind": "partner", "id": "caw-oost-vlaanderen"}]})
	d := coordination.coordination with input as ask({"consents": [c]})
	d.reasons == ["no_consent_for_purpose"]
}

test_refused_with_revoked_consent if {
	d := coordination.coordination with input as ask({"consents": [joint({"revoked_at": "2026-11-01T00:00:00Z"})]})
	d.allowed == false
}

test_attested_consent_holds_within_its_window if {
	fresh := joint({"proof": "attested", "recorded_at": "2026-11-20T00:00:00Z"})
	coordination.coordination.allowed with input as ask({"consents": [fresh]})
}

test_attested_consent_past_its_window_is_refused if {
	old := joint({"proof": "attested", "recorded_at": "2026-06-01T00:00:00Z"})
	d := coordination.coordination with input as ask({"consents": [old]})
	d.reasons == ["no_consent_for_purpose"]
}

test_refused_without_relation if {
	d := coordination.coordination with input as ask({"client": {"ref": "p-1", "network": "gbo-gent", "help_relations": []}})
	d.reasons == ["no_valid_help_relation"]
}

test_refused_when_excluded if {
	d := coordination.coordination with input as ask({"client": {"ref": "p-1", "network": "gbo-gent", "help_relations": [relation], "exclusions": ["ocmw-gent"]}})
	"excluded_by_client" in d.reasons
}

test_refused_for_another_purpose if {
	d := coordination.coordination with input as ask({"purpose": "doorverwijzing"})
	"unknown_purpose" in d.reasons
}

test_refused_for_inactive_partner_outside_the_network if {
	d := coordination.coordination with input as ask({"requester": object.union(ocmw, {"active": false, "network": "gbo-brugge"})})
	"requester_inactive" in d.reasons
	"requester_not_in_network" in d.reasons
}

test_refused_on_empty_input if {
	d := coordination.coordination with input as {}
	d.allowed == false
}
