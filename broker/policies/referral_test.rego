# Unit tests for data.gbo.referral (DESIGN §10) and for what a relation with proof `referral`
# opens in data.gbo.access.decision. Run with `gbo-broker policy test`; tests/policy also runs
# them on the real OPA engine.
package gbo.referral_test

import data.gbo.access
import data.gbo.referral

now := "2026-11-28T10:00:00Z"

dmw := {
	"partner": "dmw-cm-gent", "type": "dmw", "network": "gbo-gent",
	"bound_by_secrecy": true, "worker": "w-1", "active": true,
}

consent(over) := object.union(
	{
		"id": "c-1", "revoked_at": null, "help_relation": null,
		"proof": "client", "recorded_at": "2026-06-01T00:00:00Z",
		"valid_from": "2026-06-01T00:00:00Z", "valid_until": "2027-06-01T00:00:00Z",
		"recipients": [{"kind": "partner", "id": "dmw-cm-gent"}],
		"purposes": ["doorverwijzing"], "sections": ["identiteit", "contact", "hulpvraag"],
	},
	over,
)

# The receiver dmw-cm-gent has no relation yet when the referral is proposed.
proposal(over) := object.union(
	{
		"requester": dmw,
		"client": {"ref": "p-1", "network": "gbo-gent", "help_relations": []},
		"purpose": "doorverwijzing", "justification": null,
		"sections": ["identiteit", "contact", "hulpvraag", "rechten"],
		"entries": [], "consents": [consent({})], "now": now,
	},
	over,
)

referral_relation := {"id": "r-1", "partner": "dmw-cm-gent", "proof": "referral", "start": "2026-11-28T09:00:00Z", "end": "2027-11-28T09:00:00Z"}

test_consent_cover_splits_covered_and_missing_sections if {
	c := referral.consent_cover with input as proposal({})
	c.covered == ["contact", "hulpvraag", "identiteit"]
	c.missing == ["rechten"]
}

test_consent_for_another_purpose_covers_nothing if {
	c := referral.consent_cover with input as proposal({"consents": [consent({"purposes": ["rechtenverkenning"]})]})
	c.covered == []
	count(c.missing) == 4
}

test_consent_for_another_partner_covers_nothing if {
	other := consent({"recipients": [{"kind": "partner", "id": "ocmw-gent"}]})
	c := referral.consent_cover with input as proposal({"consents": [other]})
	c.covered == []
}

test_consent_for_the_receivers_type_covers if {
	typed := consent({"recipients": [{"kind": "partner_type", "id": "dmw"}]})
	c := referral.consent_cover with input as proposal({"consents": [typed], "sections": ["identiteit"]})
	c.covered == ["identiteit"]
}

test_revoked_consent_covers_nothing if {
	c := referral.consent_cover with input as proposal({"consents": [consent({"revoked_at": "2026-11-01T00:00:00Z"})]})
	c.covered == []
}

test_attested_consent_covers_only_basis if {
	attested := consent({"proof": "attested", "recorded_at": "2026-11-20T00:00:00Z"})
	c := referral.consent_cover with input as proposal({"consents": [attested]})
	c.covered == ["contact", "identiteit"]
	c.missing == ["hulpvraag", "rechten"]
}

test_consent_cover_is_undefined_for_another_purpose if {
	not referral.consent_cover with input as proposal({"purpose": "rechtenverkenning"})
}

test_no_consents_leaves_everything_missing if {
	c := referral.consent_cover with input as proposal({"consents": []})
	c.missing == ["contact", "hulpvraag", "identiteit", "rechten"]
}

# --- the handover: a relation with proof `referral` (DESIGN §9, §10) -------------------------

handover(over) := proposal(object.union(
	{"client": {"ref": "p-1", "network": "gbo-gent", "help_relations": [referral_relation]}},
	over,
))

test_referral_relation_opens_what_the_consent_covers if {
	d := access.decision with input as handover({})
	d.sections.hulpvraag.verdict == "granted"
	d.sections.identiteit.verdict == "granted"
	"no_consent_for_section" in d.sections.rechten.reasons
}

test_referral_relation_is_a_proven_relation_for_break_glass if {
	access.relation_proven with input as handover({})
}

test_handover_never_opens_sections_the_purpose_does_not_need if {
	d := access.decision with input as handover({
		"sections": ["inkomen", "werkaantekeningen"],
		"consents": [consent({"sections": ["inkomen", "werkaantekeningen"]})],
	})
	"section_not_needed_for_purpose" in d.sections.inkomen.reasons
	"section_never_shared" in d.sections.werkaantekeningen.reasons
}

test_handover_releases_only_unrestricted_entries_of_granted_sections if {
	entries := [
		{"id": "e-1", "section": "hulpvraag", "author": "ocmw-gent", "restricted": false, "worker": "w-2"},
		{"id": "e-2", "section": "hulpvraag", "author": "ocmw-gent", "restricted": true, "worker": "w-2"},
		{"id": "e-3", "section": "rechten", "author": "ocmw-gent", "restricted": false, "worker": "w-2"},
	]
	d := access.decision with input as handover({"entries": entries})
	d.release == ["e-1"]
}

test_ended_referral_relation_opens_nothing if {
	ended := object.union(referral_relation, {"end": "2026-11-28T09:30:00Z"})
	d := access.decision with input as proposal({"client": {"ref": "p-1", "network": "gbo-gent", "help_relations": [ended]}})
	"no_valid_help_relation" in d.sections.identiteit.reasons
}
