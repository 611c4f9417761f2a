"""Everything a running broker needs, loaded and checked once at start-up.

``load_context`` raises ``ConfigurationError`` with the command to run when something is missing:
keys (``gbo-broker keys init`` / ``gbo-broker demo``), migrations (``gbo-broker db upgrade``), or
demo keys used outside demo mode.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.engine import Engine

from audit.keys import Ed25519Verifier
from audit.log import TransparencyLog
from broker.errors import ConfigurationError
from broker.gauges import SharedStateCollector
from broker.observability import Metrics
from broker.policy.evaluator import PolicyEvaluator
from broker.policy.factory import catalogue_of, load_policy_bundle, make_evaluator
from broker.rate_limits import RateLimiter
from broker.security.auth import IssuerKeys
from broker.security.eid import TrustAnchors, load_trust_anchors
from broker.security.jwks import JwksFetcher
from broker.security.key_watch import WatchedFile
from broker.security.keys import (
    AuditKeys,
    ReceiptKey,
    SessionKey,
    check_log_origin,
    load_audit_keys,
    load_keks,
    load_pseudonym_secrets,
    load_receipt_key,
    load_session_key,
    read_json,
    receipt_key_file,
)
from broker.security.oidc import OidcClient
from broker.security.registry import Registry, load_registry
from broker.settings import Settings
from broker.store.audit_events import AuditLog
from broker.store.audit_vocabulary import GuardCollector, Vocabulary
from broker.store.db import check_migrated, make_engine
from broker.store.keyring import Keyring
from broker.store.replay import DatabaseReplayGuard, MemoryReplayGuard, make_replay_guard
from broker.webhooks.delivery import Deliverer
from broker.witnessing import Witness, Witnessing, parse_witnesses
from consent.catalogue import Catalogue


@dataclass(frozen=True)
class BrokerContext:
    settings: Settings
    engine: Engine
    registry: Registry
    keyring: Keyring
    catalogue: Catalogue
    issuer: IssuerKeys | None
    replay_guard: MemoryReplayGuard | DatabaseReplayGuard
    metrics: Metrics
    audit: AuditLog
    # DESIGN §3: signs consent receipts; the watched key file, so a rotation needs no restart
    receipt_keys: WatchedFile[ReceiptKey]
    # DESIGN §7: the log's keys, current and retired (its signer is the log's signer_source)
    audit_keys: WatchedFile[AuditKeys]
    policy: PolicyEvaluator
    session_key: SessionKey  # DESIGN §2: seals the portal's session cookies
    rate_limiter: RateLimiter  # DESIGN §6: per partner and per portal session
    oidc: OidcClient | None = None  # DESIGN §2: the portals' OpenID Connect login, if configured
    eid_anchors: TrustAnchors = field(default_factory=TrustAnchors.none)  # DESIGN §9
    owns_engine: bool = False
    witnesses: tuple[Witness, ...] = ()  # DESIGN §9: the log's witnesses (GBO_WITNESSES)
    witnessing: Witnessing | None = None
    webhooks: Deliverer | None = None  # docs/webhooks.md: None when no partner has a webhook

    @property
    def receipt_key(self) -> ReceiptKey:
        """The receipt signing key now (after a rotation: the new one, with the retired ones
        listed for the JWKS)."""
        return self.receipt_keys.get()

    def log_verifiers(self) -> tuple[Ed25519Verifier, ...]:
        """Every verifier key of the log, current first: a checkpoint signed before a rotation
        still verifies."""
        return self.audit_keys.get().verifiers

    def close(self) -> None:
        """Stop the audit writer and checkpointer; release connections this context opened."""
        if self.webhooks is not None:
            self.webhooks.close()
        if self.witnessing is not None:
            self.witnessing.close()
        self.rate_limiter.close()
        self.audit.close()
        self.policy.close()
        if self.owns_engine:
            self.engine.dispose()


def load_registry_for(settings: Settings, *, fetcher: JwksFetcher | None = None) -> Registry:
    """The partner registry; partners with a ``jwks_uri`` get their keys through ``fetcher``
    (a ``JwksFetcher``; by default one with the settings' cache times). Raises
    ``ConfigurationError``."""
    path = settings.resolved_registry_file
    if path is None:
        raise ConfigurationError("GBO_REGISTRY_FILE is not set (outside demo mode it is required)")
    if fetcher is None:
        fetcher = JwksFetcher(cache_seconds=settings.jwks_cache_seconds,
                              refresh_seconds=settings.jwks_refresh_seconds)
    return load_registry(path, data_dir=settings.data_dir, fetcher=fetcher)


def _refuse_demo_material(
    settings: Settings,
    registry: Registry,
    keyring: Keyring,
    demo_audit_key: bool,
    receipt_key: ReceiptKey,
    session_key: SessionKey,
    eid_anchors: TrustAnchors,
) -> None:
    """DESIGN §6: outside demo mode, refuse to start with any key the demo generated."""
    if settings.demo:
        return
    found = []
    if keyring.kek.demo:
        found.append("the key-encryption key")
    if registry.demo:
        found.append("the partner registry")
    if demo_audit_key:
        found.append("the audit log key")
    if receipt_key.demo:
        found.append("the receipt signing key")
    if session_key.demo:
        found.append("the portal session key")
    if read_json(settings.pseudonym_secrets_file, "pseudonym secrets").get("demo"):
        found.append("the pseudonym secrets")
    jwks = settings.resolved_issuer_jwks_file
    if jwks is not None and settings.demo_keys_dir in jwks.resolve().parents:
        found.append("the issuer keys")
    if eid_anchors.demo:
        found.append("the eID trust anchors (the demo root)")
    plain = sorted(p.id for p in registry.partners.values()
                   if p.webhook is not None and p.webhook.is_loopback_http)
    if plain:
        raise ConfigurationError(
            "refusing to start outside demo mode with plain-http webhooks (use https): "
            + ", ".join(plain))
    if found:
        raise ConfigurationError(
            "refusing to start outside demo mode with demo keys: "
            + ", ".join(found)
            + " (set GBO_DEMO=1 for a demo, or configure production keys)"
        )


def load_context(settings: Settings, *, engine: Engine | None = None) -> BrokerContext:
    registry = load_registry_for(settings)
    # DESIGN §6 key rotation: the key files are watched, so `gbo-broker keys rotate` reaches a
    # running broker without a restart.
    interval = settings.key_reload_interval
    keks = WatchedFile(settings.resolved_kek_file, lambda: load_keks(settings),
                       interval=interval)
    keyring = Keyring(kek=keks.get().current, pseudonym_secrets=load_pseudonym_secrets(settings),
                      kek_source=keks)
    missing = sorted(set(registry.networks) - set(keyring.pseudonym_secrets))
    if missing:
        raise ConfigurationError(
            f"no pseudonym secret for network(s) {', '.join(missing)}: run `gbo-broker keys init`"
        )
    audit_keys = WatchedFile(settings.audit_key_file, lambda: load_audit_keys(settings),
                             interval=interval)
    first = audit_keys.get()
    signer, demo_audit_key = first.signer, first.demo
    receipt_keys = WatchedFile(receipt_key_file(settings), lambda: load_receipt_key(settings),
                               interval=interval)
    receipt_key = receipt_keys.get()
    session_key = load_session_key(settings)
    eid_anchors = load_trust_anchors(settings.resolved_eid_trust_anchors)
    _refuse_demo_material(settings, registry, keyring, demo_audit_key, receipt_key, session_key,
                          eid_anchors)
    check_log_origin(settings)
    oidc = OidcClient.from_settings(settings)  # refuses a half-configured login
    issuer = None
    if settings.resolved_issuer and settings.resolved_issuer_jwks_file:
        issuer = IssuerKeys.from_file(settings.resolved_issuer, settings.resolved_issuer_jwks_file)
    owns_engine = engine is None
    engine = engine or make_engine(settings.resolved_database_url,
                                   pool_size=settings.max_in_flight,
                                   pool_timeout=settings.db_pool_timeout)
    try:
        check_migrated(engine)
    except ConfigurationError:
        if owns_engine:
            engine.dispose()
        raise
    metrics = Metrics()
    metrics.registry.register(GuardCollector())
    bundle = load_policy_bundle(settings)
    catalogue = catalogue_of(bundle)
    policy = make_evaluator(settings, bundle, metrics.registry)
    log = TransparencyLog(
        engine=engine,
        signer=signer,
        signer_source=lambda: audit_keys.get().signer,
        max_batch=settings.audit_max_batch,
        max_wait=settings.audit_max_wait,
        max_pending=settings.audit_max_pending,
        checkpoint_interval=settings.checkpoint_interval,
    )
    witnesses = tuple(parse_witnesses(settings.witnesses))
    witnessing = None
    if any(w.url for w in witnesses):
        witnessing = Witnessing(store=log.store, witnesses=witnesses,
                                log_verifier=signer.verifier,
                                log_verifiers=lambda: audit_keys.get().verifiers,
                                interval=settings.witness_interval,
                                timeout=settings.witness_timeout)
        witnessing.start()
    metrics.live.register(SharedStateCollector(engine=engine, store=log.store,
                                               witnesses=witnesses))
    webhooks = None
    if any(p.webhook is not None for p in registry.partners.values()):
        webhooks = Deliverer(engine=engine, registry=registry,
                             deliveries=metrics.webhook_deliveries,
                             max_attempts=settings.webhook_max_attempts,
                             backoff_base=settings.webhook_backoff_base,
                             backoff_max=settings.webhook_backoff_max,
                             timeout=settings.webhook_timeout, interval=settings.webhook_interval)
        if settings.webhook_worker:
            webhooks.start()
    return BrokerContext(
        webhooks=webhooks,
        witnesses=witnesses,
        witnessing=witnessing,
        settings=settings,
        engine=engine,
        registry=registry,
        keyring=keyring,
        catalogue=catalogue,
        issuer=issuer,
        replay_guard=make_replay_guard(settings.replay_guard, engine),
        metrics=metrics,
        audit=AuditLog(log, timeout=settings.audit_timeout, vocabulary=Vocabulary(
            networks=frozenset(registry.networks), partners=frozenset(registry.partners),
            purposes=frozenset(catalogue.purposes), sections=frozenset(catalogue.sections),
            worker_ref=keyring.worker_ref)),
        receipt_keys=receipt_keys,
        audit_keys=audit_keys,
        policy=policy,
        session_key=session_key,
        rate_limiter=RateLimiter.from_settings(settings, engine, metrics.rate_limited,
                                               session_key.key),
        oidc=oidc,
        eid_anchors=eid_anchors,
        owns_engine=owns_engine,
    )
