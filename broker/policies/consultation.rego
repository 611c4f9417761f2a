# DESIGN §10: case consultation (casusoverleg, art. 458ter of the Criminal Code).
#
# Part of package gbo.access (the access decision of access.rego): a request for purpose
# catalogue.consultation.purpose (`casusoverleg`) is granted without consent while a case
# consultation about this client is open and the requester is one of its participants. The
# consultation's legal basis replaces the client's consent, nothing else: the section must be
# needed for the purpose (the catalogue's list for `casusoverleg`), the requester must be an
# active partner of the client's network, bound by secrecy, with a valid help relation, and not
# excluded by the client. No consent ever opens `casusoverleg` (whatever the consents say), and
# outside an open consultation every section is denied with `no_open_consultation`.
#
# Input (the broker gathers the client's consultations in the requester's network):
#   consultations[]  {id, client, participants: [partner id], start, until, closed_at}
#                    `client` is the client's pseudonym (must equal client.ref); `start` and
#                    `until` RFC 3339; `closed_at` RFC 3339 or null. Padding items have null or
#                    empty fields and match nothing.
#
# Output, in the decision: a granted section's reasons are ["legal_basis"] (the ground of the
# grant), its consents []; obligation catalogue.consultation.obligation (`no_onward_disclosure`)
# instead of `notify_client` (the client is told when the consultation ends); `consultations`
# lists the ids of the open consultations the grant relied on.
package gbo.access

consultation_request if input.purpose == catalogue.consultation.purpose

# A consultation is open from its start until the earlier of its end date and its closing.
consultation_not_closed(c) if c.closed_at == null

consultation_not_closed(c) if now_ns < instant(c.closed_at)

# The open consultations about this client in which the requester takes part.
open_consultations contains c.id if {
	some c in list_of(input.consultations)
	is_string(c.id)
	is_string(c.client)
	c.client == input.client.ref
	requester_partner in list_of(c.participants)
	valid_now(c.start, c.until)
	consultation_not_closed(c)
}

in_open_consultation if count(open_consultations) > 0

# The legal basis replaces the consent rule: access.rego's consent_rule_passes reads
# in_open_consultation (a function may not be extended from a second module: Regorus cannot
# plan it).
denials contains [s, "no_open_consultation"] if {
	some s in requested
	consultation_request
	not in_open_consultation
}

grant_grounds := ["legal_basis"] if consultation_request

# What the participants learn may not be passed on outside the consultation.
obligations contains catalogue.consultation.obligation if {
	consultation_request
	count(granted_sections) > 0
}

default relied_on_consultations := []

relied_on_consultations := sort([id | some id in open_consultations]) if {
	consultation_request
	count(granted_sections) > 0
}
