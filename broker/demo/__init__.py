"""The demo network: keys generated in the data directory at first run, and a few dossiers."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from sqlmodel import Session, select

from broker.demo.eid import create_demo_eid, play_card
from broker.schemas.presence import PresenceIn
from broker.security.keys import init_keys, new_signing_jwk, public_jwk, write_secret_json
from broker.services import dossier, presence
from broker.settings import Settings
from broker.store.db import make_engine, session_scope, upgrade

if TYPE_CHECKING:
    from broker.context import BrokerContext

DEMO_DIR = Path(__file__).parent
DEMO_REGISTRY = DEMO_DIR / "registry.yaml"
DEMO_SEED = DEMO_DIR / "seed.yaml"


def _write_keypair(private_path: Path, kid: str) -> None:
    if private_path.exists():
        return
    jwk = new_signing_jwk(kid)
    write_secret_json(private_path, jwk)
    public_path = private_path.with_name(private_path.name.replace(".jwk.json", ".jwks.json"))
    public_path.unlink(missing_ok=True)
    public_path.write_text(json.dumps({"keys": [public_jwk(jwk)]}, indent=2) + "\n")


def demo_registry_raw() -> dict[str, Any]:
    raw: dict[str, Any] = yaml.safe_load(DEMO_REGISTRY.read_text(encoding="utf-8"))
    return raw


def create_demo_keys(settings: Settings) -> None:
    """Partner keys and the demo identity provider's key, each created once."""
    raw = demo_registry_raw()
    for partner in raw["partners"]:
        _write_keypair(
            settings.demo_keys_dir / "partners" / f"{partner['id']}.jwk.json",
            f"{partner['id']}-demo-1",
        )
    _write_keypair(settings.demo_keys_dir / "issuer.jwk.json", "issuer-demo-1")
    create_demo_eid(settings.demo_keys_dir, datetime.now(UTC))  # DESIGN §9: demo root and CA
    init_keys(settings, [n["id"] for n in raw["networks"]], demo=True)


def demo_citizens() -> list[dict[str, Any]]:
    citizens: list[dict[str, Any]] = yaml.safe_load(DEMO_SEED.read_text("utf-8"))["citizens"]
    return citizens


def setup_demo(settings: Settings) -> bool:
    """Create keys, migrate, and seed the demo dossiers if the database is new.

    Returns True when it seeded. Idempotent: a second run changes nothing.
    """
    from broker.context import load_context

    create_demo_keys(settings)
    engine = make_engine(settings.resolved_database_url)
    try:
        upgrade(engine)
        # A full context: relations and consents go through the services, so they are audited.
        ctx = load_context(settings, engine=engine)
        try:
            return _seed(ctx, datetime.now(UTC))
        finally:
            ctx.close()
    finally:
        engine.dispose()


def _seed_relations_and_consents(
    session: Session, ctx: BrokerContext, citizen: dict[str, Any], now: datetime
) -> None:
    """DESIGN §3: relations first (DESIGN §5: a precondition for writing), then consents. A
    record marked ``eid`` is proven by a demo card at the desk (DESIGN §9), through the same
    challenge and checks as a partner's; the others rest on the worker's word (``attested``)."""
    from broker.schemas.consents import ConsentCreate, MeConsentCreate
    from broker.services import consents, relations
    from broker.services.client_scope import own_scope
    from consent.rules import add_months

    def card(partner: str, spec: dict[str, Any]) -> PresenceIn | None:
        if not spec.get("eid"):
            return None
        issued = presence.issue_challenge(
            session=session, keyring=ctx.keyring, partner=partner,
            network=ctx.registry.partners[partner].network, insz=citizen["insz"], now=now)
        return PresenceIn.model_validate(play_card(
            ctx.settings.demo_keys_dir, insz=citizen["insz"], challenge=issued.challenge,
            now=now))

    for rel in citizen.get("relations", []):
        relations.declare(
            session=session, ctx=ctx, partner=ctx.registry.partners[rel["partner"]],
            worker=rel["worker"], insz=citizen["insz"], end=None, now=now,
            presence=card(rel["partner"], rel),
        )
    for spec in citizen.get("consents", []):
        terms = {
            "recipients": spec["recipients"], "purposes": spec["purposes"],
            "sections": spec["sections"], "valid_until": add_months(now, spec["months"]),
        }
        if "recorded_by" not in spec:  # given by the client in the portal
            consents.give(
                session=session, ctx=ctx, scope=own_scope(ctx, citizen["insz"]),
                consent_in=MeConsentCreate.model_validate(terms), now=now,
            )
            continue
        consents.record_at_desk(
            session=session, ctx=ctx, partner=ctx.registry.partners[spec["recorded_by"]],
            worker=spec["worker"], now=now, consent_in=ConsentCreate.model_validate(
                {**terms, "insz": citizen["insz"], "evidence": spec["evidence"],
                 "presence": card(spec["recorded_by"], spec)}
            ),
        )


def _seed_consent_requests(
    session: Session, ctx: BrokerContext, citizen: dict[str, Any], now: datetime
) -> None:
    """DESIGN §9: consent requests of partners that help the citizen, through the service (so
    they are audited and their message is stored encrypted), waiting for the citizen."""
    from broker.schemas.consent_requests import ConsentRequestCreate
    from broker.services import consent_requests
    from consent.rules import add_months

    for spec in citizen.get("consent_requests", []):
        consent_requests.ask(
            session=session, ctx=ctx, partner=ctx.registry.partners[spec["partner"]],
            worker=spec["worker"], now=now, body=ConsentRequestCreate.model_validate({
                "insz": citizen["insz"], "recipients": spec["recipients"],
                "purposes": spec["purposes"], "sections": spec["sections"],
                "valid_until": add_months(now, spec["months"]), "message": spec.get("message"),
            }),
        )


def _seed(ctx: BrokerContext, now: datetime) -> bool:
    from broker.store.models import Client
    from consent.padding import PADDING
    from consent.tables import HelpRelationRow

    engine, registry, keyring = ctx.engine, ctx.registry, ctx.keyring
    catalogue = ctx.catalogue
    with session_scope(engine) as session:
        # The padding owner's stored records (``consent.padding``) are no seed.
        if session.exec(select(Client).where(Client.network != PADDING)).first() is not None:
            return False
        if session.exec(select(HelpRelationRow).where(
                HelpRelationRow.network != PADDING)).first() is not None:
            return False
        for citizen in demo_citizens():
            _seed_relations_and_consents(session, ctx, citizen, now)
            for entry in citizen["entries"]:
                author = registry.partners[entry["author"]]
                dossier.add_entry(
                    session=session,
                    keyring=keyring,
                    catalogue=catalogue,
                    network=author.network,
                    author=author.id,
                    worker=entry.get("worker", "w-demo"),
                    entry_in=dossier.NewEntry(
                        insz=citizen["insz"],
                        section=entry["section"],
                        content=entry["content"],
                        restricted=entry.get("restricted", False),
                    ),
                    now=now,
                )
            _seed_consent_requests(session, ctx, citizen, now)
    return True
