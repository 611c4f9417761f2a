"""Whose consents a client-side request manages (DESIGN §9 mandates).

A client logged in as themselves manages their own consents in every network. A trusted person
logged in as *themselves* may name one of the mandates they hold (``X-On-Behalf-Of`` in the API,
a choice in ``/mijn``): the request then manages the consents of that mandate's client, in that
mandate's network, and every act records the mandate (``OnBehalfOf``). A mandate reaches
consents and consent requests only: never the dossier, the access log or the relations.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from broker.context import BrokerContext
from broker.errors import MandateNotFound
from consent import control_store
from consent.models import OnBehalfOf


def client_refs(ctx: BrokerContext, insz: str) -> dict[str, str]:
    """The client's pseudonym in every network (a client may be known in several)."""
    return {network: ctx.keyring.client_ref(network, insz) for network in ctx.registry.networks}


@dataclass(frozen=True)
class ClientScope:
    """``refs``: network -> the managed client's pseudonym. ``on_behalf_of``: the mandate, when
    a trusted person acts. ``actor_insz``: the INSZ of whoever is logged in, kept only to make
    sure it never reaches an audit entry (``AuditLog.append(never_contains=...)``)."""

    refs: Mapping[str, str]
    actor_insz: str
    on_behalf_of: OnBehalfOf | None = None

    def ref(self, network: str) -> str | None:
        return self.refs.get(network)


def own_scope(ctx: BrokerContext, insz: str) -> ClientScope:
    """The logged-in client managing their own consents."""
    return ClientScope(refs=client_refs(ctx, insz), actor_insz=insz)


def scope_for(ctx: BrokerContext, session: Session, *, insz: str, mandate_id: str | None,
              now: datetime) -> ClientScope:
    """The scope of a request by the person with ``insz``, for themselves (``mandate_id`` None)
    or under the mandate ``mandate_id``. Raises ``MandateNotFound`` unless that mandate exists,
    is held by this person and is valid now (an unknown, foreign, revoked or expired mandate
    all look the same)."""
    if mandate_id is None:
        return own_scope(ctx, insz)
    mandate = control_store.get_mandate(session=session, mandate_id=mandate_id)
    if (mandate is None or mandate.network not in ctx.registry.networks
            or mandate.mandatary_ref != ctx.keyring.client_ref(mandate.network, insz)
            or not mandate.valid(now)):
        raise MandateNotFound()
    return ClientScope(
        refs={mandate.network: mandate.client_ref}, actor_insz=insz,
        on_behalf_of=OnBehalfOf(mandate_id=mandate.id, mandatary=mandate.mandatary_ref),
    )
