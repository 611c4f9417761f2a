"""Signal bundles (DESIGN §11): the network's coordinator drafts a bundle for a period, then
releases it: the figures are computed from the audit log with differential privacy
(``figures``, ``dp_release``), the ε they spend is charged to the network's budget for the
period's year (``privacy_budget``), the release is audited, and figures and signals are frozen.
A released bundle never changes. Raw counts are never stored or returned.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, col, select

from broker.context import BrokerContext
from broker.errors import (
    BundleNotFound,
    BundleNotReleased,
    BundleReleased,
    CoordinatorRequired,
    InvalidPeriod,
    PrivacyBudgetExhausted,
)
from broker.observability import request_id_var
from broker.schemas.signals import BundleCreate, BundlePublic, Figure, SignalPublic
from broker.security.auth import AuditorPrincipal
from broker.services import figures, opt_out, privacy_budget, signals
from broker.store.audit_events import AuditEvent
from broker.store.audit_vocabulary import KINDS
from broker.store.signal_tables import SignalBundle


def _require_coordinator(auditor: AuditorPrincipal, network: str) -> None:
    if not auditor.coordinates(network):
        raise CoordinatorRequired()


def may_read(auditor: AuditorPrincipal, network: str) -> bool:
    """The network's auditors (coordinator or not) and the supervisor read its bundles."""
    return auditor.scope in (f"network:{network}", "supervisor")


def create(*, session: Session, ctx: BrokerContext, auditor: AuditorPrincipal,
           body: BundleCreate, now: datetime) -> BundlePublic:
    """A draft bundle. Raises ``CoordinatorRequired``, ``InvalidPeriod``, ``AuditUnavailable``."""
    _require_coordinator(auditor, body.network)
    start, end = body.from_, body.to
    if start > end or start.year != end.year or end >= now.date():
        raise InvalidPeriod()
    bundle = SignalBundle(id=f"sb-{uuid.uuid4().hex}", network=body.network, period_from=start,
                          period_to=end, status="draft", created_at=now)
    ctx.audit.append(AuditEvent(
        kind="signal_bundle.created", network=body.network, request_id=request_id_var.get(),
        facts={"bundle_id": bundle.id, "period_from": start.isoformat(),
               "period_to": end.isoformat(), "role": signals.COORDINATOR}), now=now)
    session.add(bundle)
    session.commit()
    return public(session=session, ctx=ctx, bundle=bundle)


def _get(session: Session, auditor: AuditorPrincipal, bundle_id: str) -> SignalBundle:
    bundle = session.get(SignalBundle, bundle_id)
    if bundle is None or not may_read(auditor, bundle.network):
        raise BundleNotFound()
    return bundle


def get(*, session: Session, ctx: BrokerContext, auditor: AuditorPrincipal,
        bundle_id: str) -> BundlePublic:
    """Raises ``BundleNotFound`` (unknown, or outside the auditor's scope)."""
    return public(session=session, ctx=ctx, bundle=_get(session, auditor, bundle_id))


def released(*, session: Session, ctx: BrokerContext, auditor: AuditorPrincipal,
             bundle_id: str) -> BundlePublic:
    """A released bundle, for its exports. Raises ``BundleNotFound``, ``BundleNotReleased``."""
    bundle = _get(session, auditor, bundle_id)
    if bundle.status != "released":
        raise BundleNotReleased()
    return public(session=session, ctx=ctx, bundle=bundle)


def of_auditor(*, session: Session, ctx: BrokerContext,
               auditor: AuditorPrincipal) -> list[BundlePublic]:
    """The bundles the auditor may read, newest first."""
    query = select(SignalBundle)
    if auditor.scope != "supervisor":
        kind, _, network = auditor.scope.partition(":")
        if kind != "network":
            return []
        query = query.where(SignalBundle.network == network)
    rows = session.exec(query.order_by(col(SignalBundle.created_at).desc(),
                                       col(SignalBundle.id))).all()
    return [public(session=session, ctx=ctx, bundle=b) for b in rows]


def release(*, session: Session, ctx: BrokerContext, auditor: AuditorPrincipal,
            bundle_id: str, now: datetime) -> BundlePublic:
    """Compute, charge and freeze the bundle's figures. Raises ``BundleNotFound``,
    ``CoordinatorRequired``, ``BundleReleased``, ``PrivacyBudgetExhausted`` (nothing released,
    nothing spent), ``AuditUnavailable`` (idem)."""
    bundle = _get(session, auditor, bundle_id)
    _require_coordinator(auditor, bundle.network)
    if bundle.status != "draft":
        raise BundleReleased()
    computed = compute_figures(session=session, ctx=ctx, bundle=bundle)
    epsilon = sum(f.epsilon for f in computed)
    frozen_signals = signals.of_network(session=session, network=bundle.network,
                                        until=now)
    budget = ctx.settings.signals_privacy_budget
    bundle_id, network, year = bundle.id, bundle.network, bundle.period_from.year
    if privacy_budget.spent(session=session, network=network, year=year) + epsilon \
            > budget + privacy_budget.SLACK:
        raise PrivacyBudgetExhausted()  # refused before anything is logged or spent
    session.rollback()  # end the read transaction: the log's writer may need the database
    # DESIGN §6/§11: the release is audited before it is committed. Should the conditional
    # writes below then fail (a concurrent release of the same bundle, or one that used the
    # budget first), nothing is released and the entry describes an attempt.
    ctx.audit.append(AuditEvent(
        kind="signal_bundle.released", network=network, request_id=request_id_var.get(),
        facts={"bundle_id": bundle_id, "figures": len(computed),
               "epsilon_milli": round(epsilon * 1000), "role": signals.COORDINATOR}), now=now)
    table = SignalBundle.__table__  # type: ignore[attr-defined]
    try:
        # Only one release of a bundle: the state changes from draft exactly once.
        claimed = session.connection().execute(
            update(table).where(table.c.id == bundle_id, table.c.status == "draft")
            .values(status="released", released_at=now, epsilon=epsilon,
                    figures=[f.model_dump(mode="json") for f in computed],
                    signals=[s.model_dump(mode="json") for s in frozen_signals]))
        if claimed.rowcount != 1:
            raise BundleReleased()
        privacy_budget.spend(session=session, network=network, year=year,
                             epsilon=epsilon, budget=budget)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    session.expire_all()
    return get(session=session, ctx=ctx, auditor=auditor, bundle_id=bundle_id)


def compute_figures(*, session: Session, ctx: BrokerContext,
                    bundle: SignalBundle) -> list[Figure]:
    """Every figure of the bundle's period, released with noise (each spends its ε)."""
    specs = figures.specs(sorted(ctx.catalogue.purposes))
    kinds = frozenset().union(*(s.kinds for s in specs)) & KINDS
    partner_types = {p.id: p.type for p in ctx.registry.partners.values()}
    events = figures.read_events(session.connection(), network=bundle.network,
                                 start=bundle.period_from, end=bundle.period_to,
                                 kinds=kinds, partner_types=partner_types)
    opted_out = opt_out.opted_out_refs(session=session, network=bundle.network)
    period = figures.quarters(bundle.period_from, bundle.period_to)
    return [figures.compute(events, spec=spec, period=period, opted_out=opted_out,
                            epsilon=ctx.settings.signals_epsilon_per_figure,
                            salt=bundle.id.encode())
            for spec in specs]


def public(*, session: Session, ctx: BrokerContext, bundle: SignalBundle) -> BundlePublic:
    if bundle.status == "released":
        shown_figures = [Figure.model_validate(f) for f in bundle.figures or []]
        shown_signals = [SignalPublic.model_validate(s) for s in bundle.signals or []]
    else:  # a draft shows the signals it would freeze, and no figures
        shown_figures = []
        shown_signals = signals.of_network(session=session, network=bundle.network)
    return BundlePublic(
        id=bundle.id, network=bundle.network, from_=bundle.period_from, to=bundle.period_to,
        status=bundle.status,
        created_at=bundle.created_at, released_at=bundle.released_at, epsilon=bundle.epsilon,
        budget=ctx.settings.signals_privacy_budget,
        spent=privacy_budget.spent(session=session, network=bundle.network,
                                   year=bundle.period_from.year),
        figures=shown_figures, signals=shown_signals)
