"""Referrals per partner in ``/audit`` (DESIGN §10): how many each partner sent and received,
and how they ended (accepted, declined, completed, dropped out, expired ...). Counts only, never
a client. Each scope sees the partners it may see (``auditor.visible_partners``)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from broker.deps import SessionDep
from broker.portal.auditor import CurrentAuditPortal, visible_partners
from broker.portal.pages import render
from broker.portal.referral_texts import OUTCOMES
from broker.portal.session import AUDITOR
from broker.services import referral_counts

router = APIRouter(prefix="/audit/doorverwijzingen", include_in_schema=False)


@router.get("", response_class=HTMLResponse)
def referrals_page(request: Request, portal: CurrentAuditPortal,
                   session: SessionDep) -> Response:
    ctx = portal.ctx
    partners = [p.id for p in visible_partners(ctx, portal.scope)]
    rows = referral_counts.outcomes(session=session, partners=partners)
    return render(request, ctx, "audit/referrals.html", session=portal.session, cookie=AUDITOR,
                  scope=portal.scope, rows=rows, outcomes=OUTCOMES)
