"""FastAPI dependencies: the context, a database session, and the authenticated principal."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated

import jwt
from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session

from broker.context import BrokerContext
from broker.errors import AuthenticationError, CoordinatorRequired
from broker.security.auth import (
    AuditorPrincipal,
    ClientPrincipal,
    PartnerPrincipal,
    verify_auditor_token,
    verify_client_token,
    verify_partner_token,
)
from broker.services.client_scope import ClientScope, scope_for
from broker.services.signals import SignalActor

# DESIGN §6: three kinds of bearer token, told apart in the OpenAPI document.
_partner_bearer = HTTPBearer(
    auto_error=False, scheme_name="PartnerToken", bearerFormat="JWT",
    description="A JWT the partner signs with its own registered key: `iss` the partner id, "
    "`sub` the worker's pseudonym, `exp` at most 5 minutes after `iat`, `jti` single use.")
_client_bearer = HTTPBearer(
    auto_error=False, scheme_name="ClientToken", bearerFormat="JWT",
    description="A citizen's token from the configured identity provider (role `client`).")
_auditor_bearer = HTTPBearer(
    auto_error=False, scheme_name="AuditorToken", bearerFormat="JWT",
    description="An auditor's token from the configured identity provider (role `auditor`, "
    "scope `partner:<id>`, `network:<id>` or `supervisor`).")


async def get_context(request: Request) -> BrokerContext:
    """A coroutine, though it does no I/O: FastAPI runs a plain function dependency on a
    worker thread, one more hop between the event loop and a thread on every request."""
    ctx: BrokerContext = request.app.state.context
    return ctx


ContextDep = Annotated[BrokerContext, Depends(get_context)]


def get_session(ctx: ContextDep) -> Iterator[Session]:
    with Session(ctx.engine, expire_on_commit=False) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]
Credentials = HTTPAuthorizationCredentials | None


def _token(credentials: HTTPAuthorizationCredentials | None) -> str:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise AuthenticationError("no bearer token")
    return credentials.credentials


def current_partner(
    request: Request, ctx: ContextDep,
    credentials: Annotated[Credentials, Depends(_partner_bearer)],
) -> PartnerPrincipal:
    try:
        principal = verify_partner_token(
            _token(credentials),
            registry=ctx.registry,
            audience=ctx.settings.audience,
            replay_guard=ctx.replay_guard,
            now=datetime.now(UTC),
        )
    except AuthenticationError:
        ctx.metrics.auth_failures.labels("partner").inc()
        raise
    request.scope.setdefault("state", {})["partner"] = principal.partner.id
    # DESIGN §6: counted per authenticated partner, after the token (its jti too) is verified and
    # before the route does any work (broker.rate_limits says why in that order).
    ctx.rate_limiter.check_partner(principal.partner.id, datetime.now(UTC))
    return principal


def current_client(
    ctx: ContextDep, credentials: Annotated[Credentials, Depends(_client_bearer)]
) -> ClientPrincipal:
    if ctx.issuer is None:
        raise AuthenticationError("no identity provider configured")
    now = datetime.now(UTC)
    try:
        principal = verify_client_token(
            _token(credentials),
            issuer=ctx.issuer,
            audience=ctx.settings.audience,
            insz_claim=ctx.settings.client_insz_claim,
            now=now,
        )
    except AuthenticationError:
        ctx.metrics.auth_failures.labels("client").inc()
        raise
    ctx.rate_limiter.check_client(principal.insz, now)  # DESIGN §6: per verified person
    return principal


def current_auditor(
    ctx: ContextDep, credentials: Annotated[Credentials, Depends(_auditor_bearer)]
) -> AuditorPrincipal:
    if ctx.issuer is None:
        raise AuthenticationError("no identity provider configured")
    try:
        return verify_auditor_token(
            _token(credentials),
            issuer=ctx.issuer,
            audience=ctx.settings.audience,
            now=datetime.now(UTC),
        )
    except AuthenticationError:
        ctx.metrics.auth_failures.labels("auditor").inc()
        raise


def signal_actor(
    request: Request, ctx: ContextDep,
    partner_credentials: Annotated[Credentials, Depends(_partner_bearer)],
    auditor_credentials: Annotated[Credentials, Depends(_auditor_bearer)],
) -> SignalActor:
    """DESIGN §11: a partner (files and follows up its network's signals) or an auditor scoped
    to one network (reads them; curates them with the ``signals`` right: the coordinator).
    Which token it is comes from its ``role`` claim; each is then verified in full as its kind
    (an unverified claim decides nothing else). Raises ``AuthenticationError``,
    ``CoordinatorRequired`` (an auditor without a network scope)."""
    token = _token(partner_credentials or auditor_credentials)
    try:
        role = jwt.decode(token, options={"verify_signature": False}).get("role")
    except jwt.PyJWTError:
        role = None
    if role != "auditor":
        principal = current_partner(request, ctx, partner_credentials)
        return SignalActor(network=principal.partner.network, partner=principal.partner.id,
                           worker=principal.worker)
    auditor = current_auditor(ctx, auditor_credentials)
    kind, _, network = auditor.scope.partition(":")
    if kind != "network" or network not in ctx.registry.networks:
        raise CoordinatorRequired()
    return SignalActor(network=network, coordinator=auditor.coordinates(network))


CurrentPartner = Annotated[PartnerPrincipal, Depends(current_partner)]
CurrentClient = Annotated[ClientPrincipal, Depends(current_client)]
CurrentAuditor = Annotated[AuditorPrincipal, Depends(current_auditor)]
CurrentSignalActor = Annotated[SignalActor, Depends(signal_actor)]

MANDATE_ID = r"^m-[0-9a-f]{32}$"


def client_scope(
    principal: CurrentClient, ctx: ContextDep, session: SessionDep,
    on_behalf_of: Annotated[str | None, Header(
        alias="X-On-Behalf-Of", pattern=MANDATE_ID,
        description="A mandate you hold (DESIGN §9): manage that client's consents instead of "
        "your own.")] = None,
) -> ClientScope:
    """Whose consents this request manages. Raises ``MandateNotFound`` for a mandate that is
    not this person's or not valid now."""
    return scope_for(ctx, session, insz=principal.insz, mandate_id=on_behalf_of,
                     now=datetime.now(UTC))


ActingScope = Annotated[ClientScope, Depends(client_scope)]
