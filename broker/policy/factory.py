"""Choosing the policy engine from settings: embedded Regorus, or a remote OPA server."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from broker.errors import ConfigurationError
from broker.policy.bundle import DEFAULT_BUNDLE_DIR, PolicyBundleError, load_bundle
from broker.policy.embedded import EmbeddedEngine
from broker.policy.engine import PolicyEngine, PolicyEngineError
from broker.policy.evaluator import PolicyEvaluator
from broker.settings import Settings


def make_evaluator(settings: Settings, registry: CollectorRegistry) -> PolicyEvaluator:
    """Raises ``ConfigurationError`` when the bundle or the engine cannot be loaded."""
    try:
        bundle = load_bundle(settings.policy_dir or DEFAULT_BUNDLE_DIR)
        engine: PolicyEngine
        if settings.opa_url:
            from broker.policy.opa_server import OpaServerEngine

            engine = OpaServerEngine(settings.opa_url, bundle,
                                     timeout=settings.policy_timeout_ms / 1000)
        else:
            engine = EmbeddedEngine(bundle)
    except (PolicyBundleError, PolicyEngineError, ValueError) as exc:
        raise ConfigurationError(f"the policy engine cannot start: {exc}") from exc
    return PolicyEvaluator(engine, timeout=settings.policy_timeout_ms / 1000, registry=registry)
