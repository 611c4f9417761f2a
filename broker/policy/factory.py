"""Loading the policy bundle and choosing its engine from settings: embedded Regorus, or a remote
OPA server. The section catalogue the Python side reads is the bundle's own data document
(``data.gbo.catalogue``), so Rego and Python never read two copies of it."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry

from broker.errors import ConfigurationError, PolicyBundleError, PolicyEngineError
from broker.policy.bundle import PolicyBundle, load_bundle
from broker.policy.embedded import EmbeddedEngine
from broker.policy.engine import PolicyEngine
from broker.policy.evaluator import PolicyEvaluator
from broker.settings import Settings
from consent.catalogue import Catalogue
from consent.errors import InvalidCatalogue


def load_policy_bundle(settings: Settings) -> PolicyBundle:
    """The bundle at ``settings.resolved_policy_dir``. Raises ``ConfigurationError``."""
    try:
        return load_bundle(settings.resolved_policy_dir)
    except PolicyBundleError as exc:
        raise ConfigurationError(f"the policy bundle cannot be loaded: {exc}") from exc


def catalogue_of(bundle: PolicyBundle) -> Catalogue:
    """The section catalogue mounted at ``data.gbo.catalogue``. Raises ``ConfigurationError``."""
    raw: Any = bundle.data.get("gbo", {}).get("catalogue")
    try:
        if not isinstance(raw, dict):
            raise InvalidCatalogue
        return Catalogue.from_dict(raw)
    except InvalidCatalogue as exc:
        raise ConfigurationError("the policy bundle's catalogue.json is missing or malformed") \
            from exc


def make_evaluator(settings: Settings, bundle: PolicyBundle,
                   registry: CollectorRegistry) -> PolicyEvaluator:
    """Raises ``ConfigurationError`` when the engine cannot be started on ``bundle``."""
    try:
        engine: PolicyEngine
        if settings.opa_url:
            from broker.policy.opa_server import OpaServerEngine

            engine = OpaServerEngine(settings.opa_url, bundle,
                                     timeout=settings.policy_timeout_ms / 1000)
        else:
            engine = EmbeddedEngine(bundle)
    except (PolicyEngineError, ValueError) as exc:
        raise ConfigurationError(f"the policy engine cannot start: {exc}") from exc
    return PolicyEvaluator(engine, timeout=settings.policy_timeout_ms / 1000, registry=registry)
