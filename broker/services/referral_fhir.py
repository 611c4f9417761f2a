"""A referral as an HL7 FHIR R5 ``Task`` (DESIGN §10; the HL7 SDOH referral workflow: requested →
accepted → completed), validated by ``fhir.resources`` (8.x models FHIR 5.0.0).

Mapping: the broker's status to ``Task.status`` (``awaiting_consent`` → ``on-hold``, ``proposed``
→ ``requested``, ``accepted``, ``declined`` → ``rejected``, ``completed``, ``dropped`` →
``failed``, ``expired`` and ``consent_refused`` → ``cancelled``), the broker's own status in
``businessStatus``; ``for``: the client's pseudonym (never the INSZ); ``requester`` and ``owner``:
the sending and the receiving partner; ``reason``: the referral's reason code; ``statusReason``:
a decline's reason code; ``input``: the sections handed over; ``restriction.period.end``: the
answer's deadline. The message is free text for the receiver and is not exported.
"""

from __future__ import annotations

from typing import Any

from fhir.resources.task import Task

from broker.store.casework import ReferralRow
from consent.fhir import Systems
from consent.publisher import Publisher

TASK_CODE = "http://hl7.org/fhir/CodeSystem/task-code"

TASK_STATUS = {
    "awaiting_consent": "on-hold",
    "proposed": "requested",
    "accepted": "accepted",
    "declined": "rejected",
    "completed": "completed",
    "dropped": "failed",
    "expired": "cancelled",
    "consent_refused": "cancelled",
}


def _partner(systems: Systems, partner_id: str) -> dict[str, Any]:
    return {"type": "Organization",
            "identifier": {"system": systems.recipient_system("partner"), "value": partner_id}}


def _code(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code}]}


def to_task(row: ReferralRow, *, publisher: Publisher) -> Task:
    """The referral as a FHIR R5 ``Task``; our identifier and code systems under the publisher's
    canonical base (``referral``, ``referral-status``, ``referral-reason``, ``referral-decline``
    beside the consent export's ``client-pseudonym``, ``partner`` and ``section``). Raises
    ``pydantic.ValidationError`` if the mapping ever produced an invalid resource (a bug, never
    the caller's input)."""
    systems = Systems(publisher.fhir_base)
    resource: dict[str, Any] = {
        "resourceType": "Task",
        "identifier": [{"system": systems.sid("referral"), "value": row.id}],
        "status": TASK_STATUS[row.status],
        "businessStatus": _code(systems.cs("referral-status"), row.status),
        "intent": "order",
        "code": _code(TASK_CODE, "fulfill"),
        "for": {"type": "Patient",
                "identifier": {"system": systems.sid("client-pseudonym"),
                               "value": row.client_ref}},
        "requester": _partner(systems, row.from_partner),
        "owner": _partner(systems, row.to_partner),
        "authoredOn": row.created_at.isoformat(),
        "lastModified": row.updated_at.isoformat(),
        "reason": [{"concept": _code(systems.cs("referral-reason"), row.reason)}],
        "restriction": {"period": {"end": row.expires_at.isoformat()}},
        "input": [{"type": _code(systems.cs("section"), "section"), "valueCode": section}
                  for section in row.sections],
    }
    if row.decline_reason is not None:
        resource["statusReason"] = {
            "concept": _code(systems.cs("referral-decline"), row.decline_reason)}
    return Task.model_validate(resource)
