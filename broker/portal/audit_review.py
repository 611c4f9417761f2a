"""The supervisor's review queue in ``/audit`` (DESIGN §9): consents and help relations recorded
on a worker's word only (proof ``attested``), marked reviewed with a note, and how many each
partner recorded per month, so that a partner that attests unusually often stands out. The
same service as ``/v1/audit/review-queue`` (``broker.services.review``); only the
``supervisor`` scope sees it: any other scope gets the portal's 404 page."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlmodel import Session

from broker.deps import SessionDep
from broker.errors import BrokerError
from broker.portal.auditor import AuditCheckedForm, AuditPortal, CurrentAuditPortal
from broker.portal.pages import PortalNotFound, first, render, see_other
from broker.portal.session import AUDITOR
from broker.portal.texts import REVIEW_ERRORS
from broker.schemas.review import ReviewIn
from broker.services import review
from broker.services.review import RecordKind

router = APIRouter(prefix="/audit/nazicht", include_in_schema=False)
SHOW = {"": None, "open": False, "nagekeken": True}  # the filter: all, waiting, reviewed
KINDS: dict[str, RecordKind] = {"consent": "consent", "relation": "relation"}


def supervisor(portal: CurrentAuditPortal) -> AuditPortal:
    """Raises ``PortalNotFound`` for every scope but ``supervisor``."""
    if portal.scope != "supervisor":
        raise PortalNotFound()
    return portal


Supervisor = Annotated[AuditPortal, Depends(supervisor)]


def _queue_page(request: Request, portal: AuditPortal, session: Session, *, show: str = "",
                status: int = 200, error: str | None = None, failed: str = "",
                note: str = "", done: str = "") -> Response:
    records = review.queue(session=session, reviewed=SHOW.get(show))
    counts = review.counts_per_partner_month(session=session)
    rows = [(partner, month, c["consent"], c["relation"])
            for (partner, month), c in sorted(counts.items(), key=lambda kv: (kv[0][1], kv[0][0]),
                                              reverse=True)]
    values: dict[str, Any] = {"records": records, "counts": rows, "error": error,
                              "show": show if show in SHOW else "", "failed": failed,
                              "note": note, "done": done, "page_size": review.PAGE}
    return render(request, portal.ctx, "audit/review.html", status=status,
                  session=portal.session, cookie=AUDITOR, scope=portal.scope, **values)


@router.get("", response_class=HTMLResponse)
def queue_page(request: Request, portal: Supervisor, session: SessionDep, toon: str = "",
               klaar: str = "") -> Response:
    return _queue_page(request, portal, session, show=toon if toon in SHOW else "",
                       done=klaar if klaar == "nagekeken" else "")


def _note(value: str) -> str:
    """The note as ``ReviewIn`` reads it (1 to 500 characters). Raises ``ValueError`` with the
    code of its Dutch message."""
    if not value.strip():
        raise ValueError("note_missing")
    try:
        return ReviewIn.model_validate({"note": value}).note
    except ValidationError:
        raise ValueError("note_too_long") from None


@router.post("/{kind}/{record_id}", response_class=HTMLResponse)
def mark(request: Request, kind: str, record_id: str, portal: Supervisor,
         form: AuditCheckedForm, session: SessionDep) -> Response:
    """Mark an attested record reviewed with a note, as
    ``POST /v1/audit/review-queue/{kind}/{id}`` does."""
    record_kind = KINDS.get(kind)
    if record_kind is None:
        raise PortalNotFound()
    text = first(form, "note")
    show = first(form, "toon")
    try:
        note = _note(text)
        review.mark_reviewed(session=session, ctx=portal.ctx, kind=record_kind,
                             record_id=record_id,
                             reviewer=portal.session.name or "toezichthouder",
                             note=note, now=datetime.now(UTC))
    except ValueError as exc:
        return _queue_page(request, portal, session, show=show, status=422,
                           error=REVIEW_ERRORS[str(exc)], failed=record_id, note=text)
    except BrokerError as exc:
        session.rollback()
        status = exc.status if exc.status in (404, 503) else 422
        return _queue_page(request, portal, session, show=show, status=status,
                           error=REVIEW_ERRORS.get(exc.code, REVIEW_ERRORS["audit_unavailable"]))
    suffix = f"&toon={show}" if show in SHOW and show else ""
    return see_other(f"/audit/nazicht?klaar=nagekeken{suffix}")
