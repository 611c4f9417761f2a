# DESIGN §10: the coordinator (casusregisseur). May this partner keep the overview of the client?
#
# Entry point:
#   data.gbo.coordination.coordination  {"allowed": bool, "reasons": [code]}
#
# Input: the access input of DESIGN §4 (broker/policy/inputs.py) with the partner that asks as
# `requester`, purpose `gezamenlijke_begeleiding` and no sections. A partner may coordinate when
# it is an active partner of the client's network, bound by secrecy, helps the client now (a
# valid help relation), is not excluded by the client, and an active consent valid now covers it
# for purpose `gezamenlijke_begeleiding` with a proof that holds (DESIGN §9: the client's own act
# or eID; a worker's word only within its 30 days). Each missing fact has its reason code; the
# codes are those of data.gbo.access. Fail closed: `allowed` is true only with no reason at all.
package gbo.coordination

import data.gbo.access

coordination_purpose := "gezamenlijke_begeleiding"

consent_holds(c) if c.proof in access.proven_proofs

consent_holds(c) if {
	c.proof == "attested"
	access.within_attested_window(c.recorded_at)
}

has_joint_consent if {
	input.purpose == coordination_purpose
	some c in access.usable_consents
	consent_holds(c)
}

denials contains "unknown_purpose" if input.purpose != coordination_purpose

denials contains "requester_inactive" if not access.requester_active

denials contains "requester_not_in_network" if not access.requester_in_network

denials contains "requester_not_bound_by_secrecy" if not access.requester_bound_by_secrecy

denials contains "no_valid_help_relation" if not access.has_valid_help_relation

denials contains "excluded_by_client" if access.excluded

denials contains "no_consent_for_purpose" if not has_joint_consent

coordination := {"allowed": true, "reasons": []} if {
	count(denials) == 0
} else := {"allowed": false, "reasons": sort([d | some d in denials])}
