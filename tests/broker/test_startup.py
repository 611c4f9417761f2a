"""The broker refuses to start when it must not serve (DESIGN §6: settings, database, registry)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from broker.context import load_context
from broker.demo import DEMO_REGISTRY
from broker.errors import ConfigurationError
from broker.security.registry import load_registry
from broker.settings import Settings
from broker.store.db import make_engine


def test_unmigrated_database_refused_naming_the_command(settings: Settings) -> None:
    engine = make_engine(settings.resolved_database_url)
    try:
        with pytest.raises(ConfigurationError, match="gbo-broker db upgrade"):
            load_context(settings, engine=engine)
    finally:
        engine.dispose()


def test_demo_keys_refused_outside_demo_mode(settings: Settings, engine: object) -> None:
    production = settings.model_copy(update={"demo": False, "registry_file": DEMO_REGISTRY})
    with pytest.raises(ConfigurationError, match="demo keys") as info:
        load_context(production)
    for what in ("key-encryption key", "partner registry", "pseudonym secrets"):
        assert what in info.value.detail


def test_production_keys_accepted_outside_demo_mode(
    tmp_path: Path, settings: Settings, engine: object
) -> None:
    """A registry and keys made for production (not by the demo) start fine."""
    from tests.factories import production_settings

    production = production_settings(settings, tmp_path)
    ctx = load_context(production)
    ctx.close()
    assert ctx.issuer is None  # no identity provider configured: client tokens are refused
    assert set(ctx.registry.partners) == set(
        load_registry(DEMO_REGISTRY, data_dir=settings.data_dir).partners
    )


def test_missing_registry_outside_demo_mode_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="GBO_REGISTRY_FILE"):
        load_context(Settings(data_dir=tmp_path, demo=False))


def test_missing_keys_refused_naming_the_command(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="gbo-broker"):
        load_context(Settings(data_dir=tmp_path, demo=True))


def test_demo_network_has_exactly_the_five_partners(settings: Settings) -> None:
    registry = load_registry(DEMO_REGISTRY, data_dir=settings.data_dir)
    assert set(registry.networks) == {"gbo-gent"}
    assert {(p.id, p.type, p.bound_by_secrecy, p.network) for p in registry.partners.values()} == {
        ("ocmw-gent", "ocmw", True, "gbo-gent"),
        ("caw-oost-vlaanderen", "caw", True, "gbo-gent"),
        ("dmw-cm", "dmw", True, "gbo-gent"),
        ("dmw-solidaris", "dmw", True, "gbo-gent"),
        ("buurtwerk-gent", "other", False, "gbo-gent"),
    }


def _registry_with(tmp_path: Path, settings: Settings, **partner_overrides: object) -> Path:
    raw = yaml.safe_load(DEMO_REGISTRY.read_text())
    raw["partners"][0].update(partner_overrides)
    raw["partners"][0] = {k: v for k, v in raw["partners"][0].items() if v is not None}
    path = tmp_path / "registry.yaml"
    path.write_text(yaml.safe_dump(raw).replace("{data_dir}", str(settings.data_dir)))
    return path


BAD_REGISTRIES = {
    "kbo_bad_checksum": ({"kbo": "0207.316.715"}, "KBO"),
    "unknown_network": ({"network": "gbo-brugge"}, "unknown network"),
    "unknown_type": ({"type": "ziekenhuis"}, "type"),
    "no_keys": ({"jwks_file": None}, "jwks"),
    "unknown_field": ({"secret": "x"}, "secret"),
}


@pytest.mark.parametrize(
    ("override", "message"), BAD_REGISTRIES.values(), ids=BAD_REGISTRIES.keys()
)
def test_invalid_registry_refused_with_reason(
    tmp_path: Path, settings: Settings, override: dict[str, object], message: str
) -> None:
    path = _registry_with(tmp_path, settings, **override)
    with pytest.raises(ConfigurationError, match=message):
        load_registry(path, data_dir=settings.data_dir)


def test_private_key_in_registry_refused(tmp_path: Path, settings: Settings) -> None:
    private = settings.demo_keys_dir / "partners" / "ocmw-gent.jwk.json"
    leaked = tmp_path / "leak.jwks.json"
    leaked.write_text(json.dumps({"keys": [json.loads(private.read_text())]}))
    path = _registry_with(tmp_path, settings, jwks_file=str(leaked))
    with pytest.raises(ConfigurationError, match="PRIVATE"):
        load_registry(path, data_dir=settings.data_dir)


def test_production_start_refused_without_a_log_origin(
    tmp_path: Path, settings: Settings, engine: object
) -> None:
    """DESIGN §9: no shared default log name; outside demo mode GBO_LOG_ORIGIN is required."""
    from tests.factories import production_settings

    production = production_settings(settings, tmp_path)
    without_origin = Settings(**{**production.model_dump(), "log_origin": None})
    with pytest.raises(ConfigurationError, match="GBO_LOG_ORIGIN is not set"):
        load_context(without_origin)


def test_demo_mode_makes_a_unique_log_origin_at_first_run(tmp_path: Path) -> None:
    from broker.demo import create_demo_keys
    from broker.security.keys import DEMO_ORIGIN_PREFIX, load_audit_signer

    origins = set()
    for n in range(2):
        demo = Settings(data_dir=tmp_path / f"demo-{n}", demo=True)
        create_demo_keys(demo)
        create_demo_keys(demo)  # a second run keeps the key, and with it the origin
        origins.add(load_audit_signer(demo)[0].name)
    assert len(origins) == 2
    assert all(o.startswith(DEMO_ORIGIN_PREFIX) and o != DEMO_ORIGIN_PREFIX for o in origins)
