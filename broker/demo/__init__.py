"""The demo network: keys generated in the data directory at first run, and a few dossiers."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy.engine import Engine
from sqlmodel import select

from broker import dossier
from broker.catalogue import load_catalogue
from broker.keys import init_keys, new_signing_jwk, public_jwk, write_secret_json
from broker.registry import Registry
from broker.settings import Settings
from broker.store.db import make_engine, session_scope, upgrade
from broker.store.keyring import Keyring

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
    init_keys(settings, [n["id"] for n in raw["networks"]], demo=True)


def demo_citizens() -> list[dict[str, Any]]:
    citizens: list[dict[str, Any]] = yaml.safe_load(DEMO_SEED.read_text("utf-8"))["citizens"]
    return citizens


def setup_demo(settings: Settings) -> bool:
    """Create keys, migrate, and seed the demo dossiers if the database is new.

    Returns True when it seeded. Idempotent: a second run changes nothing.
    """
    from broker.context import load_registry_for
    from broker.keys import load_kek, load_pseudonym_secrets

    create_demo_keys(settings)
    engine = make_engine(settings.resolved_database_url)
    upgrade(engine)
    registry = load_registry_for(settings)
    keyring = Keyring(kek=load_kek(settings), pseudonym_secrets=load_pseudonym_secrets(settings))
    now = datetime.now(UTC)
    try:
        return _seed(engine, registry, keyring, now)
    finally:
        engine.dispose()


def _seed(engine: Engine, registry: Registry, keyring: Keyring, now: datetime) -> bool:
    from broker.store.models import Client

    catalogue = load_catalogue()
    with session_scope(engine) as session:
        if session.exec(select(Client)).first() is not None:
            return False
        for citizen in demo_citizens():
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
    return True
