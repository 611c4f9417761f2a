"""The rate limits in ``/audit`` (DESIGN §6; docs/operations.md "Rate limits"): which partners
went over their limit, per day, in the last ``DAYS`` days, and the limits themselves. A partner
that is refused often is either misconfigured or uses a leaked key; either way an auditor should
know. Each scope sees the partners it may see (``auditor.visible_partners``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from broker.portal.auditor import CurrentAuditPortal, visible_partners
from broker.portal.pages import render
from broker.portal.session import AUDITOR
from broker.store.rate_limits import refusals

router = APIRouter(prefix="/audit/limieten", include_in_schema=False)
DAYS = 30


@dataclass(frozen=True)
class Row:
    partner: str
    day: datetime  # noon UTC of the day counted: the same calendar day in Belgium
    refused: int
    first_at: datetime
    last_at: datetime


@router.get("", response_class=HTMLResponse)
def limits_page(request: Request, portal: CurrentAuditPortal) -> Response:
    ctx = portal.ctx
    partners = [p.id for p in visible_partners(ctx, portal.scope)]
    since = datetime.now(UTC) - timedelta(days=DAYS)
    rows = [Row(partner=r.partner, day=datetime.fromisoformat(f"{r.day}T12:00:00+00:00"),
                refused=r.refused, first_at=r.first_at, last_at=r.last_at)
            for r in refusals(engine=ctx.engine, partners=partners, since=since)]
    limiter = ctx.rate_limiter
    return render(request, ctx, "audit/limits.html", session=portal.session, cookie=AUDITOR,
                  scope=portal.scope, rows=rows, days=DAYS, partner_limit=limiter.partner,
                  session_limit=limiter.session)
