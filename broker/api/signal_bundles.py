"""``/v1/signal-bundles`` (DESIGN §11): the coordinator drafts a bundle for a period and releases
it; its figures are differentially private and suppressed, frozen at release. Exports: JSON
(the bundle itself), ``/figures.csv`` and ``/report.pdf``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, status
from fastapi.responses import Response

from broker.api.problem_docs import AUDITED
from broker.api.routing import StrictJSONRoute
from broker.deps import ContextDep, CurrentAuditor, SessionDep
from broker.errors import (
    BundleNotFound,
    BundleNotReleased,
    BundleReleased,
    CoordinatorRequired,
    InvalidPeriod,
    PrivacyBudgetExhausted,
)
from broker.problems import problem_responses
from broker.schemas.signals import BundleCreate, BundlePublic, BundlesPublic
from broker.services import bundle_export, bundles

router = APIRouter(route_class=StrictJSONRoute, prefix="/v1/signal-bundles", tags=["signals"])
BundleId = Annotated[str, Path(pattern=r"^sb-[0-9a-f]{32}$")]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=BundlePublic,
             responses=problem_responses(CoordinatorRequired, InvalidPeriod, *AUDITED))
def create_bundle(body: BundleCreate, auditor: CurrentAuditor, ctx: ContextDep,
                  session: SessionDep) -> BundlePublic:
    """A draft bundle of the network's signals and figures for a period within one year."""
    return bundles.create(session=session, ctx=ctx, auditor=auditor, body=body,
                          now=datetime.now(UTC))


@router.get("", response_model=BundlesPublic)
def list_bundles(auditor: CurrentAuditor, ctx: ContextDep, session: SessionDep) -> BundlesPublic:
    return BundlesPublic(bundles=bundles.of_auditor(session=session, ctx=ctx, auditor=auditor))


@router.get("/{bundle_id}", response_model=BundlePublic,
            responses=problem_responses(BundleNotFound))
def get_bundle(bundle_id: BundleId, auditor: CurrentAuditor, ctx: ContextDep,
               session: SessionDep) -> BundlePublic:
    return bundles.get(session=session, ctx=ctx, auditor=auditor, bundle_id=bundle_id)


@router.post("/{bundle_id}/release", response_model=BundlePublic,
             responses=problem_responses(BundleNotFound, CoordinatorRequired, BundleReleased,
                                         PrivacyBudgetExhausted, *AUDITED))
def release_bundle(bundle_id: BundleId, auditor: CurrentAuditor, ctx: ContextDep,
                   session: SessionDep) -> BundlePublic:
    """Compute the figures with differential privacy, charge their ε to the network's yearly
    budget (refused when it would go over), audit the release and freeze the bundle."""
    return bundles.release(session=session, ctx=ctx, auditor=auditor, bundle_id=bundle_id,
                           now=datetime.now(UTC))


@router.get("/{bundle_id}/figures.csv", response_class=Response,
            responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}},
                             "description": "One row per cell."},
                       **problem_responses(BundleNotFound, BundleNotReleased)})
def figures_csv(bundle_id: BundleId, auditor: CurrentAuditor, ctx: ContextDep,
                session: SessionDep) -> Response:
    bundle = bundles.released(session=session, ctx=ctx, auditor=auditor, bundle_id=bundle_id)
    return Response(bundle_export.figures_csv(bundle), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition":
                             f'attachment; filename="{bundle.id}-cijfers.csv"'})


@router.get("/{bundle_id}/report.pdf", response_class=Response,
            responses={200: {"content": {"application/pdf": {"schema": {
                "type": "string", "format": "binary"}}}, "description": "The report (Dutch)."},
                       **problem_responses(BundleNotFound, BundleNotReleased)})
def report_pdf(bundle_id: BundleId, auditor: CurrentAuditor, ctx: ContextDep,
               session: SessionDep) -> Response:
    bundle = bundles.released(session=session, ctx=ctx, auditor=auditor, bundle_id=bundle_id)
    return Response(bundle_export.report_pdf(bundle, ctx.registry),
                    media_type="application/pdf",
                    headers={"Content-Disposition":
                             f'attachment; filename="{bundle.id}-rapport.pdf"'})
