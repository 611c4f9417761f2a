"""The coordinator (casusregisseur, DESIGN §10): one partner per client per network keeps the
overview and hears of drop-outs, unanswered referrals and ended relations
(``coordination_notices``).

- Set (``PUT /v1/coordination``): the policy decides (``data.gbo.coordination.coordination``:
  an active consent for purpose ``gezamenlijke_begeleiding`` covering the partner, a valid help
  relation, not excluded); the broker obeys. A later partner that passes the same rule takes
  over. Setting and refusing are both audited.
- Read (``GET /v1/coordination``): a partner learns who coordinates only as far as the policy
  discloses involvement for purpose ``gezamenlijke_begeleiding`` (``data.gbo.access.involvement``,
  audited as ``access.involvement``); an undisclosed coordinator reads exactly like none.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from broker.context import BrokerContext
from broker.errors import CoordinationRefused, MalformedDecision
from broker.observability import request_id_var
from broker.security.auth import PartnerPrincipal
from broker.services import access
from broker.services.coordination_notices import coordinator_of
from broker.store.audit_events import AuditEvent
from broker.store.casework import CoordinationRow

PURPOSE = "gezamenlijke_begeleiding"
RULE = "data.gbo.coordination.coordination"


@dataclass(frozen=True)
class Coordinator:
    partner: str | None
    since: datetime | None


def _verdict(raw: Any) -> list[str]:
    """The policy's reasons; empty exactly when it allowed. Raises ``MalformedDecision``."""
    if not isinstance(raw, dict) or not isinstance(raw.get("allowed"), bool):
        raise MalformedDecision("coordination is not a verdict")
    reasons = raw.get("reasons")
    if not isinstance(reasons, list) or not all(isinstance(r, str) for r in reasons):
        raise MalformedDecision("coordination reasons are not codes")
    if raw["allowed"] != (reasons == []):
        raise MalformedDecision("coordination allows with reasons or refuses without")
    return sorted(reasons)


def set_coordinator(*, session: Session, ctx: BrokerContext, principal: PartnerPrincipal,
                    insz: str, now: datetime) -> Coordinator:
    """``PUT /v1/coordination``: the caller becomes the client's coordinator. Raises
    ``CoordinationRefused`` (the policy's reasons; audited too), ``AuditUnavailable``."""
    partner = principal.partner
    gathered = access.gather(ctx=ctx, session=session, principal=principal, insz=insz,
                             purpose=PURPOSE, justification=None, sections=[], now=now)
    reasons, failure = ctx.policy.ask(RULE, gathered.policy_input, _verdict)
    if reasons is None:
        reasons = ["policy_error"]
    current = coordinator_of(session=session, network=partner.network,
                             client_ref=gathered.client_ref)
    facts: dict[str, object] = {"coordinator_before": None if current is None else current.partner}
    if failure is not None:
        facts["policy_error"] = failure
    event = AuditEvent(kind="coordination.refused" if reasons else "coordination.set",
                       network=partner.network, client=gathered.client_ref, partner=partner.id,
                       worker=principal.worker, purpose=PURPOSE,
                       policy_version=ctx.policy.version, request_id=request_id_var.get(),
                       facts={**facts, "reasons": reasons} if reasons else facts)
    ctx.audit.append(event, never_contains=(insz,), now=now)
    if reasons:
        raise CoordinationRefused(detail="Refused: " + ", ".join(reasons))
    set_by = ctx.keyring.worker_ref(partner.network, partner.id, principal.worker)
    if current is None:
        current = CoordinationRow(network=partner.network, client_ref=gathered.client_ref,
                                  partner=partner.id, set_by=set_by, since=now)
    else:
        current.partner, current.set_by, current.since = partner.id, set_by, now
    session.add(current)
    try:
        session.commit()
    except IntegrityError:  # a concurrent first coordinator: this later one takes over
        session.rollback()
        row = coordinator_of(session=session, network=partner.network,
                             client_ref=gathered.client_ref)
        if row is None:
            raise
        row.partner, row.set_by, row.since = partner.id, set_by, now
        session.add(row)
        session.commit()
    return Coordinator(partner=partner.id, since=now)


def read_coordinator(*, session: Session, ctx: BrokerContext, principal: PartnerPrincipal,
                     insz: str, request_id: str, now: datetime) -> Coordinator:
    """``GET /v1/coordination``: the coordinator as far as the policy discloses it to the
    caller. Raises ``AuditUnavailable``."""
    partner = principal.partner
    client_ref = ctx.keyring.client_ref(partner.network, insz)
    row = coordinator_of(session=session, network=partner.network, client_ref=client_ref)
    # The same question and audit entry whether or not there is a coordinator (no existence
    # leak, DESIGN §4).
    disclosed, _ = access.involvement(ctx=ctx, session=session, principal=principal, insz=insz,
                                      purpose=PURPOSE, request_id=request_id, now=now)
    if row is None or (row.partner != partner.id and row.partner not in disclosed):
        return Coordinator(partner=None, since=None)
    return Coordinator(partner=row.partner, since=row.since)
