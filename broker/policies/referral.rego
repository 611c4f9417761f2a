# DESIGN §10: a warm referral (warme doorverwijzing). Does a consent in force already cover the
# receiving partner for what the referral hands over, or must the client be asked first?
#
# Entry point:
#   data.gbo.referral.consent_cover  {"covered": [section], "missing": [section]}
#
# Input: the access input of DESIGN §4 (broker/policy/inputs.py) with the receiving partner as
# `requester`, purpose `doorverwijzing` and the referral's sections as `sections`. The receiver
# has no help relation yet (it gets one, proof `referral`, when it accepts), so this rule asks
# only whether the client's consent is there. What the receiver finally gets is the ordinary
# `data.gbo.access.decision` for purpose `doorverwijzing`, asked when it accepts.
#
# Fail closed: any other purpose leaves the rule undefined (the broker then treats every section
# as missing, and asks the client). A section counts as covered only when a consent in force
# names the receiver, the purpose and the section and its proof may open it (access.has_consent:
# the attested and bijzonder rules of DESIGN §4 and §9 apply unchanged).
package gbo.referral

import data.gbo.access

referral_purpose := "doorverwijzing"

covered contains s if {
	some s in access.requested
	access.has_consent(s)
}

missing contains s if {
	some s in access.requested
	not access.has_consent(s)
}

consent_cover := {"covered": sort([s | some s in covered]), "missing": sort([s | some s in missing])} if {
	input.purpose == referral_purpose
}
