# DESIGN §4: the access decision. Who may see which dossier sections, for which purpose.
#
# Entry points:
#   data.gbo.access.decision     one access request (DESIGN §4 input and output contract)
#   data.gbo.access.involvement  which partners' involvement may be disclosed
#   data.gbo.access.client_view  what a client sees of their own dossier (DESIGN §4)
#
# The section catalogue (tiers) and the purpose -> needed-sections map are data, mounted at
# data.gbo.catalogue from policies/catalogue.json; no section or purpose list lives here.
#
# Input fields beyond DESIGN §4's example (the broker must send them):
#   client.network                     the client's network; without it nothing is granted
#   client.help_relations[].id         the relation's id (a consent may be bound to one)
#   client.help_relations[].type       partner type and network of each involved partner, used
#   client.help_relations[].network    only by `involvement` (recipients by type or network)
#   consents[].revoked_at              RFC 3339 instant or null; a consent's status is derived
#   consents[].help_relation           here from these facts and its validity period, never
#                                      taken from the broker (no `status` field is read)
#   consents[].proof, .recorded_at     DESIGN §9: how the client's will was proven (client, eid,
#                                      attested) and when the consent was first recorded
#   client.help_relations[].proof      how the client's presence was proven (client, eid,
#                                      attested, referral)
#   client.exclusions                  partner ids the client excluded: they get nothing
#   entries[].worker                   the keyed pseudonym of the worker who wrote the entry; with
#   requester.worker (the same kind of pseudonym) it decides who gets a working note back
#
# Padding (DESIGN §4 no existence leak): client.help_relations, consents and entries may hold
# padding items shaped like real records of other partners, so that the input is as large, and
# takes as long to evaluate, for a client the broker never saw as for a small one. They name the
# partner "" (never a requester): a relation whose period is over before it began, a consent in
# force whose one recipient is that partner, a restricted entry of a requested section by that
# author. No rule matches them; tests/policy checks that padding changes no answer on either
# engine.
#   justification_facts                what a break-glass justification holds once normalised:
#                                      {visible, letters, distinct} (counts of characters)
#   consultations                      DESIGN §10: the client's case consultations in the
#                                      network (consultation.rego reads them; padded like the rest)
#
# Output beyond DESIGN §4's example: every section carries `consents`, the ids of the consents
# the grant relied on (sorted; empty for a denied section and for a break-glass grant). DESIGN
# §3: the decision carries the consents it relied on; the broker audits them and finds the
# partners to notify of a withdrawal by them. The decision also carries `consultations`: the ids
# of the open case consultations a grant under purpose `casusoverleg` relied on (DESIGN §10,
# consultation.rego; empty otherwise).
#
# Fail closed (STYLE "Errors"): every grant is built from positive facts that must be present in
# the input; a missing or mistyped fact makes that fact undefined, so the grant does not happen and
# the matching reason code appears. Verdicts and reasons never read input.entries (no existence
# leak, DESIGN §4); only `release` does.
package gbo.access

catalogue := data.gbo.catalogue

# DESIGN §3 tiers. `geheim` (werkaantekeningen) is missing from both sets on purpose: it is never
# shared, whatever the consent. A wildcard section "*" in a consent covers only the basis and
# vertrouwelijk tiers: `bijzonder` (GDPR art. 9 and 10) must be named explicitly.
shareable_tiers := {"basis", "vertrouwelijk", "bijzonder"}

wildcard_tiers := {"basis", "vertrouwelijk"}

# Input collections are iterated only when they are arrays (the contract's type). Regorus raises
# an error for `some x in v` over a string or number where OPA yields nothing; this keeps both
# engines' answers identical on malformed input.
list_of(v) := v if is_array(v)

# The sections asked for; non-strings are ignored (they can never be granted anyway).
requested contains s if {
	some s in list_of(input.sections)
	is_string(s)
}

# --- time ---------------------------------------------------------------------------------
# RFC 3339 timestamps are compared as instants (time.parse_rfc3339_ns, supported by Regorus and
# OPA alike), so offsets other than Z are handled correctly. Only strings of RFC 3339 shape reach
# the builtin: a parse error is fatal in Regorus but undefined in an OPA server without
# strict-builtin-errors, so a malformed bound is made undefined (never valid) for every engine.
# A well-shaped but impossible date (Feb 30) still errors, and the broker denies everything.
rfc3339 := `^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{1,9})?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)$`

instant(t) := time.parse_rfc3339_ns(t) if {
	is_string(t)
	regex.match(rfc3339, t)
}

now_ns := instant(input.now)

valid_now(from, until) if {
	instant(from) <= now_ns
	now_ns < instant(until)
}

# --- the rules of DESIGN §4, each a positive fact --------------------------------------------

# DESIGN §4: the section is known ...
section_known(s) if catalogue.sections[s]

# ... and not `geheim` (werkaantekeningen is never shared, with any consent).
section_shareable(s) if catalogue.sections[s].tier in shareable_tiers

# DESIGN §4: the requester is an active partner of the client's network and bound by secrecy.
requester_partner := p if {
	p := input.requester.partner
	is_string(p)
	p != ""
}

requester_active if input.requester.active == true

requester_in_network if {
	is_string(input.requester.network)
	input.requester.network == input.client.network
}

requester_bound_by_secrecy if input.requester.bound_by_secrecy == true

# DESIGN §4: the requester has a help relation with the client that is valid now.
has_valid_help_relation if {
	some r in list_of(input.client.help_relations)
	r.partner == requester_partner
	valid_now(r.start, r.end)
}

# DESIGN §9 client controls: a partner the client excluded gets nothing, break-glass included.
# A missing or malformed list excludes nobody: the other rules still need positive facts.
excluded if requester_partner in list_of(input.client.exclusions)

# --- proof of the client's will (DESIGN §9) -------------------------------------------------
# The client's own act (`client`) or their eID card at the desk (`eid`) give a consent its full
# power. A worker's word alone (`attested`) opens only the tiers catalogue.attested.tiers
# (basis), and only for catalogue.attested.max_days (30) after the consent was first recorded;
# never a bijzonder section. Any other or missing proof opens nothing.
proven_proofs := {"client", "eid"}

attested_tiers := {t | some t in catalogue.attested.tiers}

attested_window_ns := catalogue.attested.max_days * 86400000000000

within_attested_window(recorded_at) if now_ns < instant(recorded_at) + attested_window_ns

attested_may_open(s, recorded_at) if {
	catalogue.sections[s].tier in attested_tiers
	within_attested_window(recorded_at)
}

# A help relation proven by the client, their eID card or an accepted referral, valid now.
relation_proven if {
	some r in list_of(input.client.help_relations)
	r.partner == requester_partner
	valid_now(r.start, r.end)
	r.proof in {"client", "eid", "referral"}
}

# The requester's valid relations that rest on the worker's word only.
attested_relation_starts contains r.start if {
	some r in list_of(input.client.help_relations)
	r.partner == requester_partner
	valid_now(r.start, r.end)
	r.proof == "attested"
}

# DESIGN §4: the purpose is known and the section is needed for it.
purpose_known if {
	is_string(input.purpose)
	catalogue.purposes[input.purpose]
}

section_needed(s) if s in catalogue.purposes[input.purpose].sections

# DESIGN §4: an active consent valid now covers this requester (by partner, type or network),
# this purpose and this section. A consent is active now when it is not revoked by now, now lies
# in its validity period and, when it is bound to a help relation, that relation is valid now
# (it ends with the relation). The broker gathers only open versions; the policy checks anyway.
consent_valid(c) if {
	not_revoked(c)
	valid_now(c.valid_from, c.valid_until)
	relation_binding_holds(c)
}

not_revoked(c) if c.revoked_at == null

not_revoked(c) if now_ns < instant(c.revoked_at)

relation_binding_holds(c) if c.help_relation == null

relation_binding_holds(c) if {
	is_string(c.help_relation)
	some r in list_of(input.client.help_relations)
	r.id == c.help_relation
	valid_now(r.start, r.end)
}

recipient_matches(r, who) if {
	r.kind == "partner"
	is_string(r.id)
	r.id == who.partner
}

recipient_matches(r, who) if {
	r.kind == "partner_type"
	is_string(r.id)
	r.id == who.type
}

recipient_matches(r, who) if {
	r.kind == "network"
	is_string(r.id)
	r.id == who.network
}

covers_recipient(c, who) if {
	some r in list_of(c.recipients)
	recipient_matches(r, who)
}

covers_purpose(c) if {
	is_string(input.purpose)
	input.purpose in c.purposes
}

# The consents that cover this requester and this purpose; sections are checked per section.
usable_consents contains c if {
	some c in list_of(input.consents)
	consent_valid(c)
	covers_recipient(c, input.requester)
	covers_purpose(c)
}

covers_section(c, s) if s in c.sections

covers_section(c, s) if {
	"*" in c.sections
	catalogue.sections[s].tier in wildcard_tiers
}

# The consent's terms cover the section and its proof has the power to open it.
opens(c, s) if {
	covers_section(c, s)
	c.proof in proven_proofs
}

opens(c, s) if {
	covers_section(c, s)
	c.proof == "attested"
	attested_may_open(s, c.recorded_at)
}

# The requested sections some usable consent opens, evaluated once per question (a function's
# value is recomputed at every call, and this one is asked up to five times per section). Every
# caller of has_consent asks about a requested section.
consented_sections contains s if {
	some s in requested
	some c in usable_consents
	opens(c, s)
}

has_consent(s) if s in consented_sections

# A usable consent's terms name the section, but it rests on the worker's word, which cannot
# open it (a vertrouwelijk or bijzonder section, or after 30 days): the client's own approval or
# eID is what is missing.
only_attested_for(s) if {
	not has_consent(s)
	some c in usable_consents
	covers_section(c, s)
	c.proof == "attested"
}

# A usable consent names "*" but the section is bijzonder: a distinct reason, so the client and
# the worker see that an explicit consent is what is missing.
only_wildcard_for_bijzonder(s) if {
	catalogue.sections[s].tier == "bijzonder"
	some c in usable_consents
	"*" in c.sections
}

# DESIGN §4 break-glass: purpose `noodsituatie` with a written justification replaces the consent
# rule. Every other rule still applies, so it only reaches the purpose's needed sections
# (identiteit, contact, gezondheid) and only a requester bound by secrecy with a valid relation.
# The justification must say something a reviewer can read: the broker measures it after Unicode
# NFKC normalisation, counting only visible characters (input.justification_facts: `visible`,
# `letters`, `distinct`; zero-width and other invisible characters, combining marks and white
# space do not count) and the policy requires at least `min_justification_length` visible
# characters, `min_justification_letters` letters and `min_justification_distinct` different
# visible characters (so thirty dots, or one letter thirty times, is no justification).
break_glass_request if input.purpose == catalogue.break_glass.purpose

justification_ok if {
	is_string(input.justification)
	facts := input.justification_facts
	facts.visible >= catalogue.break_glass.min_justification_length
	facts.letters >= catalogue.break_glass.min_justification_letters
	facts.distinct >= catalogue.break_glass.min_justification_distinct
}

# A request that rests on the client's consent: neither break-glass nor a case consultation
# (DESIGN §10, consultation.rego), which replace the consent rule.
consent_request if {
	not break_glass_request
	not consultation_request
}

consent_rule_passes(s) if {
	consent_request
	has_consent(s)
}

consent_rule_passes(s) if {
	break_glass_request
	justification_ok
	break_glass_proof_holds(s)
}

# DESIGN §10: inside an open case consultation its legal basis replaces the consent
# (consultation.rego).
consent_rule_passes(_) if {
	consultation_request
	in_open_consultation
}

# DESIGN §9: break-glass replaces consent, not proof. On a relation proven by the client (or
# their eID, or a referral) it reaches every section of the purpose; on a relation that rests on
# the worker's word only the attested tiers (basis), within 30 days of that relation's start.
break_glass_proof_holds(_) if relation_proven

break_glass_proof_holds(s) if {
	some start in attested_relation_starts
	attested_may_open(s, start)
}

# --- verdicts -----------------------------------------------------------------------------

# The rules about the requester and the purpose, the same for every section: evaluated once per
# question, not once per section.
requester_rules_pass if {
	requester_active
	requester_in_network
	requester_bound_by_secrecy
	has_valid_help_relation
	purpose_known
}

granted_sections contains s if {
	some s in requested
	section_known(s)
	section_shareable(s)
	requester_rules_pass
	section_needed(s)
	consent_rule_passes(s)
	not excluded
}

# One stable code per failed rule; a denied section lists all of them.
denials contains [s, "unknown_section"] if {
	some s in requested
	not section_known(s)
}

denials contains [s, "section_never_shared"] if {
	some s in requested
	section_known(s)
	not section_shareable(s)
}

# The codes of the failed rules about the requester and the purpose: every section gets them.
requester_denials contains "requester_inactive" if not requester_active

requester_denials contains "requester_not_in_network" if not requester_in_network

requester_denials contains "requester_not_bound_by_secrecy" if not requester_bound_by_secrecy

requester_denials contains "no_valid_help_relation" if not has_valid_help_relation

requester_denials contains "unknown_purpose" if not purpose_known

requester_denials contains "excluded_by_client" if excluded

denials contains [s, code] if {
	some s in requested
	some code in requester_denials
}

denials contains [s, "section_not_needed_for_purpose"] if {
	some s in requested
	purpose_known
	not section_needed(s)
}

denials contains [s, "no_consent_for_section"] if {
	some s in requested
	consent_request
	not has_consent(s)
	not only_wildcard_for_bijzonder(s)
	not only_attested_for(s)
}

denials contains [s, "bijzonder_needs_explicit_consent"] if {
	some s in requested
	consent_request
	not has_consent(s)
	only_wildcard_for_bijzonder(s)
	not only_attested_for(s)
}

denials contains [s, "needs_client_proof"] if {
	some s in requested
	consent_request
	only_attested_for(s)
}

denials contains [s, "needs_client_proof"] if {
	some s in requested
	break_glass_request
	justification_ok
	has_valid_help_relation
	not break_glass_proof_holds(s)
}

denials contains [s, "break_glass_justification_too_short"] if {
	some s in requested
	break_glass_request
	not justification_ok
}

reasons(s) := sort([d[1] | some d in denials; d[0] == s])

# DESIGN §3: the consents a grant relied on. A break-glass grant, or one under a case
# consultation's legal basis (DESIGN §10), relies on none.
relied_on(_) := [] if not consent_request

relied_on(s) := sort([c.id |
	some c in usable_consents
	opens(c, s)
	is_string(c.id)
]) if consent_request

# A granted section carries no reason, except the ground of a grant without consent under a
# case consultation (DESIGN §10: `legal_basis`, consultation.rego).
default grant_grounds := []

section_result(s) := {"verdict": "granted", "reasons": grant_grounds, "consents": relied_on(s)} if {
	s in granted_sections
	count(reasons(s)) == 0
} else := {"verdict": "denied", "reasons": reasons(s), "consents": []}

# --- release ------------------------------------------------------------------------------
# DESIGN §4: an entry is released when its author is the requester, or when its section is
# granted and the entry is not restricted; an own working note only to the worker who wrote it
# (DESIGN §1). Only entries of requested sections are considered.
# `restricted` must be present and false: a missing flag is treated as restricted. There is no
# per-entry reason code on purpose: it would reveal that a restricted entry exists.
# Own entries need an active requester (a deactivated partner gets nothing).
released contains e.id if {
	some e in list_of(input.entries)
	is_string(e.id)
	e.section in requested
	requester_active
	not excluded
	e.author == requester_partner
	own_entry_shown(e)
}

# DESIGN §1: a worker's personal working notes are never shared, not with a colleague of the
# same partner either. An own entry of a section that is not shareable (tier `geheim`:
# werkaantekeningen) goes back only to the worker who wrote it: entries[].worker and
# requester.worker are the broker's keyed worker pseudonyms (DESIGN §9), and a missing or
# empty one matches nothing.
own_entry_shown(e) if section_shareable(e.section)

own_entry_shown(e) if {
	not section_shareable(e.section)
	is_string(e.worker)
	e.worker != ""
	e.worker == input.requester.worker
}

released contains e.id if {
	some e in list_of(input.entries)
	is_string(e.id)
	e.section in granted_sections
	e.restricted == false
}

# --- obligations and break-glass -----------------------------------------------------------
# `break_glass` is true only when a valid break-glass request was granted at least one section;
# a refused attempt breaks nothing (it is still audited as a denied decision).
default break_glass := false

break_glass if {
	break_glass_request
	justification_ok
	count(granted_sections) > 0
}

# notify_client: DESIGN §4's example output carries it for an ordinary grant, so every decision
# that grants at least one section obliges the broker to put a notice in the client's access-log
# view. It depends on verdicts only, never on whether entries exist, so it leaks
# nothing. Releasing only the requester's own entries is not an access to others' data: no notice.
# Under a case consultation the client is told when it ends instead (DESIGN §10,
# consultation.rego).
obligations contains "notify_client" if {
	count(granted_sections) > 0
	not consultation_request
}

# Break-glass adds notify_dpo: the partner's auditors review it afterwards (DESIGN §1, §4).
obligations contains "notify_dpo" if break_glass

decision := {
	"sections": {s: section_result(s) | some s in requested},
	"release": sort([id | some id in released]),
	"obligations": sort([o | some o in obligations]),
	"break_glass": break_glass,
	"consultations": relied_on_consultations,
}

# --- involvement (DESIGN §5: POST /v1/involvement) ------------------------------------------
# Which other partners currently help the client, as far as the client allowed it. Knowing that a
# CAW or a health insurer's social service is involved already tells something about the client,
# so a partner X with a valid help relation is disclosed to requester R only if:
#   - R passes the requester rules above (active, in the client's network, bound by secrecy, with
#     a valid help relation of its own),
#   - the purpose is marked `discloses_involvement` in the catalogue (doorverwijzing and
#     gezamenlijke_begeleiding: referring or supporting together needs to know the others),
#   - one active consent valid now names that purpose and covers both R and X as recipients
#     (by partner, type or network): the client agreed that these services work together.
# Sections in the consent do not matter: involvement is not section content. The requester itself
# is not listed. Anything not disclosed is simply absent: the answer for an undisclosed partner is
# the same as for a partner that is not involved at all.
may_see_involvement if {
	not excluded
	requester_active
	requester_in_network
	requester_bound_by_secrecy
	has_valid_help_relation
	purpose_known
	catalogue.purposes[input.purpose].discloses_involvement == true
}

disclosed_partners contains x if {
	may_see_involvement
	some r in list_of(input.client.help_relations)
	x := r.partner
	is_string(x)
	x != requester_partner
	valid_now(r.start, r.end)
	other := {
		"partner": x,
		"type": object.get(r, "type", null),
		"network": object.get(r, "network", null),
	}
	some c in usable_consents
	covers_recipient(c, other)
}

involvement := sort([x | some x in disclosed_partners])

# --- the client's own view (DESIGN §4) -------------------------------------------------------
# A client sees all of their own dossier except werkaantekeningen (tier geheim). The broker passes
# only that client's entries.
client_view := {"release": sort([e.id |
	some e in list_of(input.entries)
	is_string(e.id)
	catalogue.sections[e.section].tier in shareable_tiers
])}
