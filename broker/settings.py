"""Runtime settings, read from ``GBO_*`` environment variables (pydantic-settings)."""

from __future__ import annotations

from functools import cached_property
from importlib.resources import files
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from audit.writer import DEFAULT_MAX_PENDING
from consent.publisher import Controller, Publisher

DEFAULT_PORT = 8000


def _shipped_policy_dir() -> Path:
    """The policy bundle shipped as package data (DESIGN §4: Rego and catalogue.json in
    ``broker/policies/``): the same files in a checkout and in an installed wheel. The bundle
    is read as a directory (the engines, ``policy test``), so the package must be installed
    unpacked, as pip always does."""
    shipped = files("broker").joinpath("policies")
    return shipped if isinstance(shipped, Path) else Path(str(shipped))


DEFAULT_POLICY_DIR = _shipped_policy_dir()
DEMO_ISSUER = "gbo-broker-demo"


class Settings(BaseSettings):
    """Every knob of the broker. Paths default to places under ``data_dir``."""

    model_config = SettingsConfigDict(env_prefix="GBO_", extra="ignore", frozen=True)

    data_dir: Path = Field(default=Path("var"), description="Keys, SQLite database, demo keys.")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default SQLite under data_dir."
    )
    audience: str = Field(default="gbo-broker", description="`aud` every token must carry.")
    kek_file: Path | None = Field(default=None, description="Key-encryption key (JSON).")
    registry_file: Path | None = Field(
        default=None, description="Networks and partners (YAML); the demo one in demo mode."
    )
    demo: bool = Field(default=False, description="Demo mode: built-in issuer, demo keys.")
    opa_url: str | None = Field(default=None, description="Remote OPA server (http://host:port).")
    policy_timeout_ms: int = Field(default=200, ge=1, description="Longest policy evaluation.")
    existence_floor_ms: float = Field(
        default=3.0, ge=0, le=1000,
        description="Least time from the start of an access request's or involvement "
        "question's reads to its audit entry (DESIGN §4 no existence leak: whether the broker "
        "knows the client must not show in the time; docs/performance.md). 0: no floor.",
    )
    policy_dir: Path | None = Field(
        default=None,
        description="The policy bundle (Rego + catalogue.json); default: the shipped one.",
    )
    issuer: str | None = Field(default=None, description="`iss` of client and auditor tokens.")
    issuer_jwks_file: Path | None = Field(default=None, description="That issuer's JWKS.")
    client_insz_claim: str = Field(
        default="insz", description="Claim holding the INSZ (client tokens and OIDC ID tokens)."
    )
    public_url: str | None = Field(
        default=None, description="The broker's external base URL; OIDC redirect URIs use it."
    )
    fhir_base: str | None = Field(
        default=None,
        description="Canonical base URL of the broker's FHIR code systems, identifier systems and "
                    "profile (default: <public URL>/fhir, where the broker serves them).",
    )
    controller_id: str = Field(default="gbo-netwerk", description="The controller's id.")
    controller_name: str = Field(
        default="GBO-netwerk", description="The controller named in receipts and FHIR consents.")
    controller_email: str = Field(
        default="privacy@gbo-netwerk.invalid", description="The controller's contact address.")
    privacy_notice_url: str | None = Field(
        default=None,
        description="The privacy notice (default: the portal's, <public URL>/mijn/privacy).")
    oidc_issuer: str | None = Field(
        default=None, description="OpenID Connect provider of the portal logins (issuer URL)."
    )
    oidc_client_id: str | None = Field(default=None, description="The portals' OIDC client id.")
    oidc_client_secret: SecretStr | None = Field(
        default=None, description="The portals' OIDC client secret."
    )
    oidc_scopes: str = Field(default="openid", description="Scopes asked at OIDC login.")
    oidc_auditor_claim: str = Field(
        default="gbo_auditor_scope",
        description="ID-token claim holding an auditor's scope (partner:<id>, network:<id>, "
        "supervisor).",
    )
    oidc_timeout: float = Field(
        default=5.0, gt=0, description="Seconds to wait for the OIDC provider."
    )
    eid_trust_anchors: Path | None = Field(
        default=None,
        description="PEM file of the eID roots a presence proof must chain to (the Belgian eID "
        "roots in production; the demo root in demo mode). Unset outside demo mode: no eID proof "
        "is accepted and desk records stay attested.",
    )
    log_origin: str | None = Field(
        default=None,
        description="Name of the audit log and of its key (C2SP checkpoint origin), unique per "
        "deployment: required outside demo mode; demo mode makes one at first run.",
    )
    witnesses: str | None = Field(
        default=None,
        description="Witnesses of the audit log (C2SP tlog-witness), comma or newline separated, "
        "each '<cosigner vkey> <url prefix>'; DESIGN §9.",
    )
    witness_quorum: int = Field(
        default=1, ge=1, description="Cosignatures a checkpoint needs to be served as witnessed."
    )
    witness_interval: float = Field(
        default=1.0, gt=0, description="Seconds between witnessing rounds."
    )
    witness_timeout: float = Field(default=5.0, gt=0, description="Longest wait for a witness.")
    key_reload_interval: float = Field(
        default=1.0, ge=0,
        description="Seconds between looks at the key files for a rotation (0: at every use); "
        "a running broker picks up `gbo-broker keys rotate` without a restart.",
    )
    jwks_cache_seconds: float = Field(
        default=300.0, gt=0,
        description="How long a partner's keys fetched from its jwks_uri are used before they "
        "are fetched again.",
    )
    jwks_refresh_seconds: float = Field(
        default=30.0, ge=0,
        description="Least time between two fetches of one partner's jwks_uri caused by a "
        "token with an unknown kid (a rollover).",
    )
    traces_exporter: Literal["none", "console", "otlp"] = Field(
        default="none",
        description="OpenTelemetry traces: none (off), console, or otlp (configured by the "
        "standard OTEL_EXPORTER_OTLP_* variables; needs gbo-broker[otlp]).",
    )
    webhook_worker: bool = Field(
        default=True,
        description="Deliver the webhook outbox from a background thread of this process "
        "(docs/webhooks.md); with several workers each delivers, rows are claimed by lease.",
    )
    webhook_max_attempts: int = Field(
        default=12, ge=1, description="Attempts before a webhook event is a dead letter."
    )
    webhook_backoff_base: float = Field(
        default=30.0, gt=0, description="Seconds before the first retry of a webhook event; "
        "each further retry waits twice as long (with jitter), up to webhook_backoff_max.",
    )
    webhook_backoff_max: float = Field(
        default=6 * 3600.0, gt=0, description="Longest wait between two webhook attempts (s)."
    )
    webhook_timeout: float = Field(
        default=10.0, gt=0, description="Longest wait for a webhook receiver's answer (s)."
    )
    webhook_interval: float = Field(
        default=1.0, gt=0, description="Seconds between rounds of the webhook deliverer."
    )
    checkpoint_interval: float = Field(
        default=2.0,
        description="Seconds between checkpoints while the log grows (0: only on demand).",
    )
    audit_max_batch: int = Field(default=512, description="Most entries in one group commit.")
    audit_max_wait: float = Field(
        default=0.0, description="Seconds a group commit waits for more entries (0: none)."
    )
    audit_timeout: float = Field(default=5.0, description="Longest wait for a durable append.")
    audit_max_pending: int = Field(
        default=DEFAULT_MAX_PENDING, ge=1,
        description="Most audit entries waiting to be made durable, per process; beyond it "
        "requests that must be audited are refused at once (503 audit_busy, Retry-After).",
    )
    replay_guard: str = Field(
        default="auto", pattern="^(auto|memory|database)$",
        description="Where used token ids are kept: memory (one process), database (several "
        "workers), auto (memory on SQLite, database on PostgreSQL).",
    )
    # Rate limits (docs/operations.md "Rate limits": the numbers and why). 0: switched off.
    rate_limit_partner_per_second: float = Field(
        default=5.0, ge=0,
        description="Requests per second a partner may make, on average (token bucket refill).",
    )
    rate_limit_partner_burst: int = Field(
        default=100, ge=0, description="Requests a partner may make at once (bucket size).",
    )
    rate_limit_session_per_second: float = Field(
        default=1.0, ge=0,
        description="Pages per second one logged-in portal session (/mijn, /audit) may ask for; "
        "also requests per second of one client in the v1 API (/v1/me/*).",
    )
    rate_limit_session_burst: int = Field(
        default=30, ge=0, description="Pages one portal session may ask for at once.",
    )
    rate_limit_store: str = Field(
        default="auto", pattern="^(auto|memory|database)$",
        description="Where the buckets are kept: memory (one process), database (several "
        "workers share each budget), auto (memory on SQLite, database on PostgreSQL).",
    )
    # Admission (docs/operations.md "Under load"): each worker takes at most max_in_flight
    # requests at once, each with a thread and a database connection of its own.
    max_in_flight: int = Field(
        default=16, ge=1,
        description="Most requests one worker serves at once; beyond it requests are refused "
        "at once (503 overloaded, Retry-After). The database pool and the request threads are "
        "sized with it (/healthz, /readyz and /metrics are never refused).",
    )
    max_queued: int = Field(
        default=64, ge=0,
        description="Requests one worker lets wait for one of its max_in_flight to finish; "
        "beyond them it refuses at once (503 overloaded).",
    )
    max_queue_wait: float = Field(
        default=2.0, gt=0,
        description="Longest wait of a queued request for a place; then 503 overloaded.",
    )
    db_pool_timeout: float = Field(
        default=5.0, gt=0,
        description="Longest wait for a database connection of the pool (PostgreSQL) before a "
        "request is refused (503 overloaded).",
    )
    # DESIGN §11 signal bundles: differential privacy (docs/signals.md says why these numbers).
    signals_privacy_budget: float = Field(
        default=4.0, gt=0, le=100,
        description="Privacy budget (ε) each network may spend on released figures per "
        "calendar year; a release that would exceed it is refused.",
    )
    signals_epsilon_per_figure: float = Field(
        default=0.25, gt=0, le=10,
        description="Privacy loss (ε) one figure of a bundle spends.",
    )
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    max_body_bytes: int = 1024 * 1024
    log_level: str = "INFO"

    @field_validator("data_dir", mode="after")
    @classmethod
    def _absolute_data_dir(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @cached_property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'gbo.sqlite3'}"

    @cached_property
    def resolved_policy_dir(self) -> Path:
        """The policy bundle the broker serves: ``GBO_POLICY_DIR`` or the shipped one."""
        return self.policy_dir or DEFAULT_POLICY_DIR

    @cached_property
    def keys_dir(self) -> Path:
        return self.data_dir / "keys"

    @cached_property
    def demo_keys_dir(self) -> Path:
        return self.data_dir / "demo-keys"

    @cached_property
    def resolved_kek_file(self) -> Path:
        return self.kek_file or self.keys_dir / "kek.json"

    @cached_property
    def audit_key_file(self) -> Path:
        return self.keys_dir / "audit-log.json"

    @cached_property
    def pseudonym_secrets_file(self) -> Path:
        return self.keys_dir / "pseudonym-secrets.json"

    @cached_property
    def resolved_registry_file(self) -> Path | None:
        if self.registry_file is not None:
            return self.registry_file
        if self.demo:
            return Path(__file__).parent / "demo" / "registry.yaml"
        return None

    @cached_property
    def resolved_eid_trust_anchors(self) -> Path | None:
        if self.eid_trust_anchors is not None:
            return self.eid_trust_anchors
        if self.demo:
            return self.demo_keys_dir / "eid" / "root.pem"
        return None

    @cached_property
    def oidc_configured(self) -> bool:
        """Any OIDC setting given: the portals log in through the provider (all are then
        required; ``broker.security.oidc.check_settings`` says which is missing)."""
        return any((self.oidc_issuer, self.oidc_client_id, self.oidc_client_secret))

    @cached_property
    def base_url(self) -> str:
        """The broker's external base URL: ``GBO_PUBLIC_URL`` or the address it listens on."""
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @cached_property
    def publisher(self) -> Publisher:
        """Who speaks in receipts and FHIR consents (DESIGN §3): canonical base, controller."""
        return Publisher(
            fhir_base=self.fhir_base or f"{self.base_url}/fhir",
            issuer=self.base_url,
            controller=Controller(
                id=self.controller_id, name=self.controller_name,
                contact_email=self.controller_email,
                privacy_notice_url=self.privacy_notice_url or f"{self.base_url}/mijn/privacy",
            ),
        )

    @cached_property
    def resolved_issuer(self) -> str | None:
        return self.issuer or (DEMO_ISSUER if self.demo else None)

    @cached_property
    def resolved_issuer_jwks_file(self) -> Path | None:
        if self.issuer_jwks_file is not None:
            return self.issuer_jwks_file
        if self.demo:
            return self.demo_keys_dir / "issuer.jwks.json"
        return None
