"""DESIGN §2 preview: "what would partner X see for purpose Y under these consents?"

Built exactly like the access flow's policy input (``broker.policy.inputs.build_input``, as
``broker.services.access.gather`` does) from the client's help relations and open consents, plus
the proposed consent validated by the same rules (``consent.versions.build_consent``), and
decided by the same policy engine (``ctx.policy.decide``): the preview is the engine's answer,
never a Python rule. No entries go in (no content is needed, and DESIGN §4: verdicts never
depend on whether data exists). Nothing is stored or released, so it is not an access and is not
audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from broker.context import BrokerContext
from broker.policy.decision import Decision
from broker.policy.inputs import build_input
from broker.portal.forms import FormError
from broker.security.registry import Partner
from broker.services.access import client_facts
from broker.services.client_scope import ClientScope
from broker.services.consents import PORTAL
from consent import versions
from consent.models import ConsentTerms

PREVIEW_WORKER = "portal-preview"


@dataclass(frozen=True)
class Preview:
    partner: Partner
    purpose: str
    decision: Decision
    with_proposal: bool


def preview(*, session: Session, ctx: BrokerContext, scope: ClientScope, partner_id: str,
            purpose: str, proposed: ConsentTerms | None, now: datetime) -> Preview:
    """What ``partner_id`` would see of the client in ``scope`` for ``purpose``. Raises
    ``FormError`` (unknown partner or purpose, or a partner outside the scope's networks) and
    the ``ConsentValidationError`` of an invalid proposal."""
    partner = ctx.registry.partners.get(partner_id)
    if partner is None or scope.ref(partner.network) is None:
        raise FormError("unknown_preview_partner")
    if purpose not in ctx.catalogue.purposes:
        raise FormError("unknown_purpose")
    network = partner.network
    client_ref = scope.refs[network]
    facts = client_facts(session, network=network, client_ref=client_ref, now=now)
    consents = facts.consents
    if proposed is not None:
        partners = ctx.registry.partner_refs()
        consents = [*consents, versions.build_consent(
            proposed, consent_id="cs-preview", client_ref=client_ref, network=network,
            evidence=PORTAL, proof="client", catalogue=ctx.catalogue, partners=partners, now=now,
        )]
    sections = list(ctx.catalogue.sections)
    policy_input = build_input(
        requester=partner, worker=PREVIEW_WORKER, client_ref=client_ref,
        relations=facts.relations, consents=consents, exclusions=facts.exclusions,
        purpose=purpose, justification=None, sections=sections, entries=[],
        registry=ctx.registry, now=now,
    )
    decision, _ = ctx.policy.decide(policy_input, requested=sections, requester=partner.id,
                                    entries=[])
    return Preview(partner=partner, purpose=purpose, decision=decision,
                   with_proposal=proposed is not None)
