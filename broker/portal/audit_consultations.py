"""The case consultations in ``/audit`` (DESIGN §10): per consultation its legal basis,
participants, period, whether the client is told at the end, and how many access decisions
relied on it. The same service and scope as ``GET /v1/audit/case-consultations``; never the
client, the goal or the reference."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from broker.deps import SessionDep
from broker.portal.auditor import CurrentAuditPortal
from broker.portal.pages import render
from broker.portal.session import AUDITOR
from broker.services import case_consultations

router = APIRouter(prefix="/audit/casusoverleg", include_in_schema=False)


@dataclass(frozen=True)
class Line:
    id: str
    network: str
    legal_basis: str  # the catalogue's Dutch label
    participants: list[str]
    opened_at: datetime
    ends_at: datetime
    closed: bool
    open: bool
    deferred: bool
    accesses: int


@router.get("", response_class=HTMLResponse)
def consultations_page(request: Request, portal: CurrentAuditPortal,
                       session: SessionDep) -> Response:
    ctx, now = portal.ctx, datetime.now(UTC)
    found = case_consultations.for_auditor(session=session, scope=portal.scope)
    counts = case_consultations.access_counts(ctx, found)
    bases = case_consultations.info(ctx).legal_bases
    lines = [Line(id=c.id, network=c.network,
                  legal_basis=bases[c.legal_basis].label if c.legal_basis in bases
                  else c.legal_basis,
                  participants=list(c.participants), opened_at=c.opened_at,
                  ends_at=c.ends_at(), closed=c.closed_at is not None and c.closed_at < c.until,
                  open=case_consultations.is_open(c, now),
                  deferred=c.client_notice == "deferred", accesses=counts.get(c.id, 0))
             for c in found]
    return render(request, ctx, "audit/consultations.html", session=portal.session,
                  cookie=AUDITOR, scope=portal.scope, lines=lines)
