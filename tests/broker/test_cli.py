"""The ``gbo-broker`` command line, run in-process against the same data directory as the API."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from broker.cli import app
from broker.context import load_context
from broker.errors import ConfigurationError
from broker.settings import Settings
from tests.factories import (
    VALID_INSZ,
    auth,
    client_auth,
    declare_relation,
    make_entry,
    partner_auth,
)

runner = CliRunner()


def _env(settings: Settings, demo: bool = True) -> dict[str, str]:
    return {
        "GBO_DATA_DIR": str(settings.data_dir),
        "GBO_DEMO": "1" if demo else "0",
        "GBO_DATABASE_URL": settings.resolved_database_url,
    }


def test_minted_partner_token_is_accepted(api: TestClient, settings: Settings) -> None:
    declare_relation(api, settings, "dmw-cm")
    result = runner.invoke(
        app, ["token", "partner", "--partner", "dmw-cm", "--worker", "w-9"], env=_env(settings)
    )
    assert result.exit_code == 0, result.output
    response = api.post("/v1/entries", json=make_entry(), headers=auth(result.stdout.strip()))
    assert response.status_code == 201


def test_minted_client_token_reads_the_dossier(api: TestClient, settings: Settings) -> None:
    declare_relation(api, settings)
    api.post("/v1/entries", json=make_entry(), headers=partner_auth(settings))
    result = runner.invoke(app, ["token", "client", "--insz", VALID_INSZ], env=_env(settings))
    assert result.exit_code == 0
    response = api.get("/v1/me/dossier", headers=auth(result.stdout.strip()))
    assert len(response.json()["entries"]) == 1


def test_minted_auditor_token_carries_scope(settings: Settings) -> None:
    result = runner.invoke(
        app, ["token", "auditor", "--scope", "network:gbo-gent"], env=_env(settings)
    )
    assert result.exit_code == 0
    from datetime import UTC, datetime

    from broker.security.auth import IssuerKeys, verify_auditor_token

    issuer = IssuerKeys.from_file(
        settings.resolved_issuer or "", settings.resolved_issuer_jwks_file
    )  # type: ignore[arg-type]
    principal = verify_auditor_token(
        result.stdout.strip(), issuer=issuer, audience=settings.audience, now=datetime.now(UTC)
    )
    assert principal.scope == "network:gbo-gent"


@pytest.mark.parametrize(
    "args",
    [
        ["token", "client", "--insz", "85073003329"],
        ["token", "auditor", "--scope", "everyone"],
        ["token", "partner", "--partner", "ocmw-antwerpen"],
    ],
    ids=["invalid_insz", "invalid_scope", "unknown_partner"],
)
def test_token_commands_reject_bad_arguments(settings: Settings, args: list[str]) -> None:
    result = runner.invoke(app, args, env=_env(settings))
    assert result.exit_code == 2
    assert "85073003329" not in result.output


def test_tokens_need_demo_mode(settings: Settings) -> None:
    result = runner.invoke(
        app, ["token", "partner", "--partner", "ocmw-gent"], env=_env(settings, demo=False)
    )
    assert result.exit_code == 2
    assert "GBO_DEMO=1" in result.output


def test_erase_reads_insz_from_stdin_and_shreds_the_client(
    api: TestClient, settings: Settings, engine: Engine
) -> None:
    declare_relation(api, settings)
    api.post("/v1/entries", json=make_entry(), headers=partner_auth(settings))
    result = runner.invoke(
        app,
        ["client", "erase", "--network", "gbo-gent", "--yes"],
        input=VALID_INSZ + "\n",
        env=_env(settings),
    )
    assert result.exit_code == 0, result.output
    assert VALID_INSZ not in result.output
    response = api.get("/v1/me/dossier", headers=client_auth(settings))
    assert response.status_code == 410
    again = runner.invoke(
        app,
        ["client", "erase", "--network", "gbo-gent", "--yes"],
        input=VALID_INSZ + "\n",
        env=_env(settings),
    )
    assert again.exit_code == 2  # already erased


def test_erase_unknown_pseudonym_fails(settings: Settings, engine: Engine) -> None:
    result = runner.invoke(
        app, ["client", "erase", "--network", "gbo-gent", "--ref", "nobody"], env=_env(settings)
    )
    assert result.exit_code == 2
    assert "no client" in result.output


def test_db_upgrade_migrates_a_new_database(settings: Settings) -> None:
    with pytest.raises(ConfigurationError):
        load_context(settings)
    result = runner.invoke(app, ["db", "upgrade"], env=_env(settings))
    assert result.exit_code == 0, result.output
    load_context(settings).close()


def test_demo_requires_demo_mode(settings: Settings) -> None:
    result = runner.invoke(app, ["demo"], env=_env(settings, demo=False))
    assert result.exit_code == 2


def test_audit_key_prints_the_key_the_broker_publishes(api: TestClient,
                                                       settings: Settings) -> None:
    result = runner.invoke(app, ["audit", "key"], env=_env(settings))
    assert result.exit_code == 0, result.output
    assert result.stdout == api.get("/v1/audit/key").text


def test_audit_key_without_keys_says_how_to_make_them(tmp_path: Path) -> None:
    result = runner.invoke(app, ["audit", "key"], env={"GBO_DATA_DIR": str(tmp_path),
                                                       "GBO_DEMO": "0"})
    assert result.exit_code == 2
    assert "gbo-broker keys init" in result.output
