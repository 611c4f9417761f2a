# Unit tests for data.gbo.access.decision (DESIGN §4): one or more per rule and per reason code.
# Run with `gbo-broker policy test` (broker/policy/rego_tests.py); tests/policy also runs them on
# the real OPA engine.
package gbo.access_test

import data.gbo.access

# --- fixtures -------------------------------------------------------------------------------

now := "2026-11-28T10:00:00Z"

caw := {
	"partner": "caw-oost-vlaanderen", "type": "caw", "network": "gbo-gent",
	"bound_by_secrecy": true, "worker": "w-7f3a", "active": true,
}

relation(partner) := {"id": concat("-", ["r", partner]), "partner": partner, "proof": "eid", "start": "2026-01-01T00:00:00Z", "end": "2027-01-01T00:00:00Z"}

expired_relation(partner) := {"id": concat("-", ["r", partner]), "partner": partner, "proof": "eid", "start": "2025-01-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"}

consent(over) := object.union(
	{
		"id": "c-1", "revoked_at": null, "help_relation": null,
		"proof": "client", "recorded_at": "2026-06-01T00:00:00Z",
		"valid_from": "2026-06-01T00:00:00Z", "valid_until": "2027-06-01T00:00:00Z",
		"recipients": [{"kind": "partner", "id": "caw-oost-vlaanderen"}],
		"purposes": ["rechtenverkenning"], "sections": ["identiteit", "inkomen"],
	},
	over,
)

# A request by caw-oost-vlaanderen that is granted `inkomen`; tests override one fact at a time.
req(over) := object.union(
	{
		"requester": caw,
		"client": {"ref": "p-1", "network": "gbo-gent", "help_relations": [relation("caw-oost-vlaanderen")]},
		"purpose": "rechtenverkenning", "justification": null,
		"sections": ["inkomen"], "entries": [], "consents": [consent({})], "now": now,
	},
	over,
)

justification := "Client dreigt zichzelf iets aan te doen, arts nodig."

# What the broker measures of it (broker/policy/inputs.py justification_facts).
justification_facts := {"visible": 44, "letters": 42, "distinct": 18}

# facts(visible, letters, distinct): a justification as measured, for the threshold tests.
facts(v, l, d) := {"visible": v, "letters": l, "distinct": d}

emergency(over) := req(object.union(
	{"purpose": "noodsituatie", "justification": justification, "justification_facts": justification_facts, "consents": [], "sections": ["identiteit", "contact", "gezondheid"]},
	over,
))

granted(d, s) if {
	d.sections[s].verdict == "granted"
	d.sections[s].reasons == []
}

denied_for(d, s, code) if {
	d.sections[s].verdict == "denied"
	code in d.sections[s].reasons
}

# --- granted --------------------------------------------------------------------------------

test_granted_with_consent_for_partner if {
	d := access.decision with input as req({})
	granted(d, "inkomen")
	d.obligations == ["notify_client"]
	d.break_glass == false
}

test_granted_with_consent_for_partner_type if {
	c := consent({"recipients": [{"kind": "partner_type", "id": "caw"}]})
	d := access.decision with input as req({"consents": [c]})
	granted(d, "inkomen")
}

test_granted_with_consent_for_network if {
	c := consent({"recipients": [{"kind": "network", "id": "gbo-gent"}]})
	d := access.decision with input as req({"consents": [c]})
	granted(d, "inkomen")
}

test_timestamps_with_offsets_compare_as_instants if {
	# 10:30+01:00 is 09:30Z, before the relation ends at 09:45Z
	r := {"partner": "caw-oost-vlaanderen", "start": "2026-01-01T00:00:00Z", "end": "2026-11-28T09:45:00Z"}
	inp := req({"now": "2026-11-28T10:30:00+01:00", "client": {"help_relations": [r]}})
	d := access.decision with input as inp
	granted(d, "inkomen")
}

# --- section rules --------------------------------------------------------------------------

test_unknown_section_denied if {
	d := access.decision with input as req({"sections": ["paspoort"]})
	denied_for(d, "paspoort", "unknown_section")
}

test_werkaantekeningen_never_shared_even_with_explicit_consent if {
	c := consent({"purposes": ["gezamenlijke_begeleiding"], "sections": ["werkaantekeningen"]})
	inp := req({"purpose": "gezamenlijke_begeleiding", "sections": ["werkaantekeningen"], "consents": [c]})
	d := access.decision with input as inp
	d.sections.werkaantekeningen.reasons == ["section_never_shared", "section_not_needed_for_purpose"]
	d.obligations == []
}

# --- requester rules ------------------------------------------------------------------------

test_inactive_requester_denied if {
	d := access.decision with input as req({"requester": {"active": false}})
	d.sections.inkomen == {"verdict": "denied", "reasons": ["requester_inactive"], "consents": []}
}

test_requester_of_other_network_denied if {
	d := access.decision with input as req({"requester": {"network": "gbo-brugge"}})
	d.sections.inkomen.reasons == ["requester_not_in_network"]
}

test_missing_client_network_denied if {
	d := access.decision with input as json.remove(req({}), ["client/network"])
	denied_for(d, "inkomen", "requester_not_in_network")
}

test_requester_not_bound_by_secrecy_denied if {
	buurtwerk := {"partner": "buurtwerk-gent", "type": "other", "bound_by_secrecy": false}
	c := consent({"recipients": [{"kind": "network", "id": "gbo-gent"}]})
	inp := req({"requester": buurtwerk, "client": {"help_relations": [relation("buurtwerk-gent")]}, "consents": [c]})
	d := access.decision with input as inp
	d.sections.inkomen.reasons == ["requester_not_bound_by_secrecy"]
}

test_expired_help_relation_denied if {
	inp := req({"client": {"help_relations": [expired_relation("caw-oost-vlaanderen")]}})
	d := access.decision with input as inp
	d.sections.inkomen.reasons == ["no_valid_help_relation"]
}

test_help_relation_of_other_partner_does_not_count if {
	inp := req({"client": {"help_relations": [relation("ocmw-gent")]}})
	d := access.decision with input as inp
	d.sections.inkomen.reasons == ["no_valid_help_relation"]
}

test_help_relation_ends_exclusive if {
	r := {"partner": "caw-oost-vlaanderen", "start": "2026-01-01T00:00:00Z", "end": now}
	d := access.decision with input as req({"client": {"help_relations": [r]}})
	denied_for(d, "inkomen", "no_valid_help_relation")
}

# --- purpose rules --------------------------------------------------------------------------

test_unknown_purpose_denied if {
	c := consent({"purposes": ["nieuwsgierigheid"]})
	d := access.decision with input as req({"purpose": "nieuwsgierigheid", "consents": [c]})
	d.sections.inkomen.reasons == ["unknown_purpose"]
}

test_section_not_needed_for_purpose_denied if {
	c := consent({"purposes": ["hulpvraagverheldering"]})
	d := access.decision with input as req({"purpose": "hulpvraagverheldering", "consents": [c]})
	d.sections.inkomen.reasons == ["section_not_needed_for_purpose"]
}

# --- consent rules --------------------------------------------------------------------------

test_no_consent_denied if {
	d := access.decision with input as req({"consents": []})
	d.sections.inkomen.reasons == ["no_consent_for_section"]
	d.obligations == []
}

test_consent_for_other_section_denied if {
	d := access.decision with input as req({"sections": ["huisvesting"]})
	d.sections.huisvesting.reasons == ["no_consent_for_section"]
}

test_consent_for_other_purpose_denied if {
	c := consent({"purposes": ["rechtenrealisatie"]})
	d := access.decision with input as req({"consents": [c]})
	d.sections.inkomen.reasons == ["no_consent_for_section"]
}

test_consent_for_other_partner_denied if {
	c := consent({"recipients": [{"kind": "partner", "id": "ocmw-gent"}]})
	d := access.decision with input as req({"consents": [c]})
	d.sections.inkomen.reasons == ["no_consent_for_section"]
}

test_consent_for_other_partner_type_denied if {
	c := consent({"recipients": [{"kind": "partner_type", "id": "dmw"}]})
	d := access.decision with input as req({"consents": [c]})
	d.sections.inkomen.reasons == ["no_consent_for_section"]
}

test_revoked_consent_denied if {
	c := consent({"revoked_at": "2026-11-28T09:00:00Z"})
	d := access.decision with input as req({"consents": [c]})
	d.sections.inkomen.reasons == ["no_consent_for_section"]
}

test_consent_revoked_later_still_covers_now if {
	c := consent({"revoked_at": "2026-11-28T10:00:01Z"})
	d := access.decision with input as req({"consents": [c]})
	granted(d, "inkomen")
}

test_consent_without_revocation_fact_denied if {
	c := object.remove(consent({}), ["revoked_at"])
	d := access.decision with input as req({"consents": [c]})
	d.sections.inkomen.reasons == ["no_consent_for_section"]
}

test_consent_bound_to_valid_relation_covers if {
	c := consent({"help_relation": "r-caw-oost-vlaanderen"})
	d := access.decision with input as req({"consents": [c]})
	granted(d, "inkomen")
}

test_consent_bound_to_ended_relation_denied if {
	# the consent ends with the ocmw's relation; the caw's own relation is still valid
	c := consent({"help_relation": "r-ocmw-gent"})
	rels := [relation("caw-oost-vlaanderen"), expired_relation("ocmw-gent")]
	d := access.decision with input as req({"consents": [c], "client": {"help_relations": rels}})
	d.sections.inkomen.reasons == ["no_consent_for_section"]
}

test_consent_bound_to_unknown_relation_denied if {
	c := consent({"help_relation": "r-onbekend"})
	d := access.decision with input as req({"consents": [c]})
	d.sections.inkomen.reasons == ["no_consent_for_section"]
}

# --- relied-on consents (DESIGN §3) ---------------------------------------------------------

test_granted_section_names_every_consent_that_covers_it if {
	c2 := consent({"id": "c-2", "recipients": [{"kind": "network", "id": "gbo-gent"}]})
	c3 := consent({"id": "c-3", "sections": ["identiteit"]})
	d := access.decision with input as req({"consents": [c2, consent({}), c3]})
	d.sections.inkomen.consents == ["c-1", "c-2"]
}

test_denied_section_relies_on_no_consent if {
	d := access.decision with input as req({"sections": ["inkomen", "werk"]})
	d.sections.werk.consents == []
	d.sections.inkomen.consents == ["c-1"]
}

test_break_glass_grant_relies_on_no_consent if {
	c := consent({"purposes": ["noodsituatie"], "sections": ["gezondheid"]})
	d := access.decision with input as emergency({"consents": [c]})
	granted(d, "gezondheid")
	d.sections.gezondheid.consents == []
}

test_expired_consent_denied if {
	c := consent({"valid_until": "2026-11-28T09:59:59Z"})
	d := access.decision with input as req({"consents": [c]})
	d.sections.inkomen.reasons == ["no_consent_for_section"]
}

test_consent_not_yet_valid_denied if {
	c := consent({"valid_from": "2026-11-28T10:00:01Z"})
	d := access.decision with input as req({"consents": [c]})
	d.sections.inkomen.reasons == ["no_consent_for_section"]
}

test_consent_without_validity_denied if {
	c := json.remove(consent({}), ["valid_until"])
	d := access.decision with input as req({"consents": [c]})
	d.sections.inkomen.reasons == ["no_consent_for_section"]
}

test_wildcard_consent_covers_vertrouwelijk if {
	c := consent({"sections": ["*"]})
	d := access.decision with input as req({"consents": [c], "sections": ["inkomen", "huisvesting"]})
	granted(d, "inkomen")
	granted(d, "huisvesting")
}

test_wildcard_consent_never_covers_bijzonder if {
	c := consent({"purposes": ["gezamenlijke_begeleiding"], "sections": ["*"]})
	inp := req({"purpose": "gezamenlijke_begeleiding", "consents": [c], "sections": ["gezondheid", "inkomen"]})
	d := access.decision with input as inp
	d.sections.gezondheid == {"verdict": "denied", "reasons": ["bijzonder_needs_explicit_consent"], "consents": []}
	granted(d, "inkomen")
}

test_explicit_consent_covers_bijzonder if {
	c := consent({"purposes": ["gezamenlijke_begeleiding"], "sections": ["*", "justitie"]})
	inp := req({"purpose": "gezamenlijke_begeleiding", "consents": [c], "sections": ["justitie"]})
	d := access.decision with input as inp
	granted(d, "justitie")
}

test_wildcard_consent_never_covers_werkaantekeningen if {
	c := consent({"purposes": ["gezamenlijke_begeleiding"], "sections": ["*"]})
	inp := req({"purpose": "gezamenlijke_begeleiding", "consents": [c], "sections": ["werkaantekeningen"]})
	d := access.decision with input as inp
	d.sections.werkaantekeningen.reasons == ["no_consent_for_section", "section_never_shared", "section_not_needed_for_purpose"]
}

# --- every failing rule is listed, sorted -----------------------------------------------------

test_all_failing_rules_listed_sorted if {
	inp := req({
		"requester": {"active": false, "bound_by_secrecy": false, "network": "elders"},
		"client": {"help_relations": []}, "consents": [], "purpose": "hulpvraagverheldering",
	})
	d := access.decision with input as inp
	d.sections.inkomen.reasons == [
		"no_consent_for_section", "no_valid_help_relation", "requester_inactive",
		"requester_not_bound_by_secrecy", "requester_not_in_network", "section_not_needed_for_purpose",
	]
}

# --- fail closed on missing facts -----------------------------------------------------------

test_empty_input_grants_nothing if {
	d := access.decision with input as {}
	d == {"sections": {}, "release": [], "obligations": [], "break_glass": false, "consultations": []}
}

test_missing_now_grants_nothing if {
	d := access.decision with input as json.remove(req({}), ["now"])
	d.sections.inkomen.reasons == ["no_consent_for_section", "no_valid_help_relation"]
}

test_missing_requester_grants_nothing if {
	inp := json.remove(req({"entries": [{"id": "e-1", "section": "inkomen", "author": "caw-oost-vlaanderen", "restricted": false}]}), ["requester"])
	d := access.decision with input as inp
	d.sections.inkomen.verdict == "denied"
	d.release == []
}

test_requester_active_must_be_true_not_truthy if {
	d := access.decision with input as req({"requester": {"active": "yes", "bound_by_secrecy": 1}})
	d.sections.inkomen.reasons == ["requester_inactive", "requester_not_bound_by_secrecy"]
}

# --- break-glass ----------------------------------------------------------------------------

test_break_glass_grants_emergency_sections_without_consent if {
	d := access.decision with input as emergency({})
	granted(d, "identiteit")
	granted(d, "contact")
	granted(d, "gezondheid")
	d.break_glass == true
	d.obligations == ["notify_client", "notify_dpo"]
}

test_break_glass_never_reaches_other_sections if {
	d := access.decision with input as emergency({"sections": ["inkomen", "justitie", "werkaantekeningen"]})
	d.sections.inkomen.reasons == ["section_not_needed_for_purpose"]
	d.sections.justitie.reasons == ["section_not_needed_for_purpose"]
	d.sections.werkaantekeningen.reasons == ["section_never_shared", "section_not_needed_for_purpose"]
	d.break_glass == false
	d.obligations == []
}

test_break_glass_short_justification_denied if {
	d := access.decision with input as emergency({"justification": "dringend", "justification_facts": facts(8, 8, 6)})
	d.sections.gezondheid == {"verdict": "denied", "reasons": ["break_glass_justification_too_short"], "consents": []}
	d.break_glass == false
	d.obligations == []
}

test_break_glass_justification_padding_does_not_count if {
	padded := concat("", ["          ", "dringend, echt dringend", "          "])
	d := access.decision with input as emergency({"justification": padded, "justification_facts": facts(21, 20, 9)})
	denied_for(d, "gezondheid", "break_glass_justification_too_short")
}

test_break_glass_justification_needs_letters if {
	d := access.decision with input as emergency({"justification": "...", "justification_facts": facts(30, 0, 1)})
	denied_for(d, "gezondheid", "break_glass_justification_too_short")
}

test_break_glass_justification_needs_more_than_one_repeated_character if {
	d := access.decision with input as emergency({"justification": "aaa", "justification_facts": facts(30, 30, 1)})
	denied_for(d, "gezondheid", "break_glass_justification_too_short")
}

test_break_glass_justification_without_measurement_denied if {
	d := access.decision with input as object.remove(emergency({}), ["justification_facts"])
	denied_for(d, "gezondheid", "break_glass_justification_too_short")
}

test_break_glass_missing_justification_denied if {
	d := access.decision with input as emergency({"justification": null})
	denied_for(d, "identiteit", "break_glass_justification_too_short")
}

test_break_glass_exactly_minimum_length_granted if {
	d := access.decision with input as emergency({"justification": "abcdefghijklmnopqrstuvwxyz0123", "justification_facts": facts(30, 26, 30)})
	granted(d, "identiteit")
}

test_break_glass_needs_secrecy if {
	d := access.decision with input as emergency({"requester": {"bound_by_secrecy": false}})
	d.sections.gezondheid.reasons == ["requester_not_bound_by_secrecy"]
	d.break_glass == false
}

test_break_glass_needs_valid_help_relation if {
	inp := emergency({"client": {"help_relations": [expired_relation("caw-oost-vlaanderen")]}})
	d := access.decision with input as inp
	d.sections.gezondheid.reasons == ["no_valid_help_relation"]
	d.break_glass == false
}

# --- release --------------------------------------------------------------------------------

entries := [
	{"id": "e-1", "section": "inkomen", "author": "ocmw-gent", "restricted": false},
	{"id": "e-2", "section": "inkomen", "author": "ocmw-gent", "restricted": true},
	{"id": "e-3", "section": "justitie", "author": "caw-oost-vlaanderen", "restricted": true},
	{"id": "e-4", "section": "justitie", "author": "ocmw-gent", "restricted": false},
	{"id": "e-5", "section": "inkomen", "author": "dmw-cm"},
	{"id": "e-6", "section": "huisvesting", "author": "caw-oost-vlaanderen", "restricted": false},
	{"id": "e-7", "section": "werkaantekeningen", "author": "caw-oost-vlaanderen", "worker": "w-7f3a", "restricted": true},
	{"id": "e-8", "section": "werkaantekeningen", "author": "ocmw-gent", "restricted": false},
]

test_release_granted_unrestricted_and_own_entries if {
	inp := req({"sections": ["inkomen", "justitie", "werkaantekeningen"], "entries": entries})
	d := access.decision with input as inp
	granted(d, "inkomen")
	d.sections.justitie.verdict == "denied"
	# e-2 restricted, e-4 in a denied section, e-5 without a restricted flag, e-6 not requested,
	# e-8 someone else's working notes; e-3 and e-7 are the requester's own.
	d.release == ["e-1", "e-3", "e-7"]
}

# DESIGN §1: working notes belong to the worker who wrote them, not to the partner.
test_working_notes_go_back_only_to_their_own_worker if {
	notes := [
		{"id": "e-1", "section": "werkaantekeningen", "author": "caw-oost-vlaanderen", "worker": "w-7f3a", "restricted": false},
		{"id": "e-2", "section": "werkaantekeningen", "author": "caw-oost-vlaanderen", "worker": "w-colleague", "restricted": false},
		{"id": "e-3", "section": "werkaantekeningen", "author": "caw-oost-vlaanderen", "restricted": false},
		{"id": "e-4", "section": "werkaantekeningen", "author": "caw-oost-vlaanderen", "worker": "", "restricted": false},
		{"id": "e-5", "section": "inkomen", "author": "caw-oost-vlaanderen", "worker": "w-colleague", "restricted": true},
	]
	inp := req({"sections": ["inkomen", "werkaantekeningen"], "entries": notes})
	d := access.decision with input as inp
	# e-2 a colleague's note, e-3 and e-4 name no worker; e-5 an ordinary entry of the partner.
	d.release == ["e-1", "e-5"]
	colleague := access.decision with input as object.union(inp, {"requester": {"worker": "w-colleague"}})
	colleague.release == ["e-2", "e-5"]
	nobody := access.decision with input as object.union(inp, {"requester": {"worker": null}})
	nobody.release == ["e-5"]
}

test_own_entries_not_released_to_inactive_requester if {
	inp := req({"requester": {"active": false}, "sections": ["justitie"], "entries": entries})
	d := access.decision with input as inp
	d.release == []
}

test_denied_section_answer_same_without_entries if {
	inp := req({"sections": ["inkomen", "justitie", "werkaantekeningen", "huisvesting"]})
	with_data := access.decision with input as object.union(inp, {"entries": entries})
	without := access.decision with input as inp
	with_data.sections == without.sections
	with_data.obligations == without.obligations
	with_data.break_glass == without.break_glass
}

# --- involvement ----------------------------------------------------------------------------

network_relation(partner, type) := object.union(relation(partner), {"type": type, "network": "gbo-gent"})

involvement_input(over) := req(object.union(
	{
		"purpose": "gezamenlijke_begeleiding",
		"client": {"help_relations": [
			network_relation("caw-oost-vlaanderen", "caw"),
			network_relation("ocmw-gent", "ocmw"),
			network_relation("dmw-cm", "dmw"),
			object.union(expired_relation("dmw-solidaris"), {"type": "dmw", "network": "gbo-gent"}),
		]},
		"consents": [consent({
			"purposes": ["gezamenlijke_begeleiding"],
			"recipients": [{"kind": "partner", "id": "caw-oost-vlaanderen"}, {"kind": "partner_type", "id": "ocmw"}],
		})],
	},
	over,
))

test_involvement_disclosed_for_partners_in_same_consent if {
	access.involvement == ["ocmw-gent"] with input as involvement_input({})
}

test_involvement_by_network_consent_lists_valid_relations_only if {
	c := consent({"purposes": ["gezamenlijke_begeleiding"], "recipients": [{"kind": "network", "id": "gbo-gent"}]})
	access.involvement == ["dmw-cm", "ocmw-gent"] with input as involvement_input({"consents": [c]})
}

test_involvement_hidden_for_purpose_without_disclosure if {
	c := consent({"purposes": ["rechtenverkenning"], "recipients": [{"kind": "network", "id": "gbo-gent"}]})
	access.involvement == [] with input as involvement_input({"purpose": "rechtenverkenning", "consents": [c]})
}

test_involvement_hidden_without_consent if {
	access.involvement == [] with input as involvement_input({"consents": []})
}

test_involvement_hidden_from_requester_not_bound_by_secrecy if {
	access.involvement == [] with input as involvement_input({"requester": {"bound_by_secrecy": false}})
}

test_involvement_hidden_from_requester_without_relation if {
	inp := involvement_input({})
	rels := [r | some r in inp.client.help_relations; r.partner != "caw-oost-vlaanderen"]
	access.involvement == [] with input as object.union(inp, {"client": {"help_relations": rels}})
}

# --- the client's own view ------------------------------------------------------------------

test_client_view_excludes_werkaantekeningen if {
	v := access.client_view with input as {"entries": entries}
	v.release == ["e-1", "e-2", "e-3", "e-4", "e-5", "e-6"]
}

# --- malformed timestamps are never valid ---------------------------------------------------

test_malformed_consent_validity_denied if {
	c := consent({"valid_until": "morgen"})
	d := access.decision with input as req({"consents": [c]})
	d.sections.inkomen.reasons == ["no_consent_for_section"]
}

test_timestamp_without_zone_denied if {
	d := access.decision with input as req({"now": "2026-11-28T10:00:00"})
	d.sections.inkomen.reasons == ["no_consent_for_section", "no_valid_help_relation"]
}

# --- proof of the client's will (DESIGN §9) -------------------------------------------------

attested(over) := consent(object.union({"proof": "attested", "recorded_at": "2026-11-20T10:00:00Z",
	"sections": ["identiteit", "contact", "inkomen", "gezondheid"],
	"purposes": ["gezamenlijke_begeleiding"]}, over))

joint(over) := req(object.union({"purpose": "gezamenlijke_begeleiding"}, over))

test_attested_consent_opens_basis_sections_only if {
	d := access.decision with input as joint({"consents": [attested({})], "sections": ["identiteit", "contact", "inkomen"]})
	granted(d, "identiteit")
	granted(d, "contact")
	d.sections.inkomen.reasons == ["needs_client_proof"]
}

test_attested_consent_never_opens_bijzonder if {
	d := access.decision with input as joint({"consents": [attested({})], "sections": ["gezondheid"]})
	d.sections.gezondheid.reasons == ["needs_client_proof"]
}

test_attested_consent_opens_nothing_after_30_days if {
	c := attested({"recorded_at": "2026-10-29T09:59:59Z"})
	d := access.decision with input as joint({"consents": [c], "sections": ["identiteit"]})
	d.sections.identiteit.reasons == ["needs_client_proof"]
}

test_attested_consent_opens_basis_until_the_30th_day if {
	c := attested({"recorded_at": "2026-10-29T10:00:01Z"})
	d := access.decision with input as joint({"consents": [c], "sections": ["identiteit"]})
	granted(d, "identiteit")
}

test_eid_consent_keeps_full_power if {
	c := attested({"proof": "eid", "recorded_at": "2026-01-01T00:00:00Z"})
	d := access.decision with input as joint({"consents": [c], "sections": ["inkomen", "gezondheid"]})
	granted(d, "inkomen")
	granted(d, "gezondheid")
}

test_unknown_or_missing_proof_opens_nothing if {
	unknown := attested({"proof": "gezworen"})
	missing := object.remove(attested({}), ["proof"])
	d1 := access.decision with input as joint({"consents": [unknown], "sections": ["identiteit"]})
	d2 := access.decision with input as joint({"consents": [missing], "sections": ["identiteit"]})
	d1.sections.identiteit.reasons == ["no_consent_for_section"]
	d2.sections.identiteit.reasons == ["no_consent_for_section"]
}

test_proven_consent_beside_attested_one_is_relied_on_alone if {
	proven := attested({"id": "c-2", "proof": "client"})
	d := access.decision with input as joint({"consents": [attested({}), proven], "sections": ["inkomen", "identiteit"]})
	d.sections.inkomen.consents == ["c-2"]
	d.sections.identiteit.consents == ["c-1", "c-2"]
}

attested_relation(start) := object.union(relation("caw-oost-vlaanderen"), {"proof": "attested", "start": start})

test_break_glass_on_attested_relation_reaches_basis_only if {
	rels := [attested_relation("2026-11-20T00:00:00Z")]
	d := access.decision with input as emergency({"client": {"help_relations": rels}})
	granted(d, "identiteit")
	granted(d, "contact")
	d.sections.gezondheid.reasons == ["needs_client_proof"]
	d.break_glass == true
}

test_break_glass_on_old_attested_relation_reaches_nothing if {
	rels := [attested_relation("2026-09-01T00:00:00Z")]
	d := access.decision with input as emergency({"client": {"help_relations": rels}})
	d.sections.identiteit.reasons == ["needs_client_proof"]
	d.break_glass == false
	d.obligations == []
}

test_break_glass_on_referral_relation_keeps_full_reach if {
	rels := [object.union(relation("caw-oost-vlaanderen"), {"proof": "referral"})]
	d := access.decision with input as emergency({"client": {"help_relations": rels}})
	granted(d, "gezondheid")
}

# --- exclusions (DESIGN §9) -----------------------------------------------------------------

test_excluded_partner_gets_nothing if {
	inp := req({"client": {"exclusions": ["caw-oost-vlaanderen"]}, "sections": ["inkomen", "justitie"], "entries": entries})
	d := access.decision with input as inp
	d.sections.inkomen.reasons == ["excluded_by_client"]
	"excluded_by_client" in d.sections.justitie.reasons
	d.release == []
	d.obligations == []
}

test_excluded_partner_gets_no_break_glass if {
	d := access.decision with input as emergency({"client": {"exclusions": ["caw-oost-vlaanderen"]}})
	d.sections.gezondheid.reasons == ["excluded_by_client"]
	d.break_glass == false
}

test_exclusion_of_another_partner_changes_nothing if {
	d := access.decision with input as req({"client": {"exclusions": ["ocmw-gent"]}})
	granted(d, "inkomen")
}

test_excluded_partner_sees_no_involvement if {
	access.involvement == [] with input as involvement_input({"client": {"exclusions": ["caw-oost-vlaanderen"]}})
}
