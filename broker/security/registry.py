"""The partner registry (DESIGN §3): networks and partners with their public keys, from YAML.

A partner's keys come inline (``jwks: {keys: [...]}``), from a file (``jwks_file``; a relative
path is relative to the registry file, and ``{data_dir}`` expands to the data directory, which is
how the demo registry finds keys generated at first run), or from the partner's own web server
(``jwks_uri``, fetched and cached by ``broker.security.jwks``: the partner rolls its keys over
without a change to the registry). A set may hold several keys: during a rollover, the old and
the new one.

A partner may have a webhook (docs/webhooks.md): ``webhook: {url, secret_file}``. The URL is
``https://``, or ``http://`` to a loopback address (127.0.0.1, ::1, localhost), which only a demo
broker accepts (``broker.context``); the secret is a Standard Webhooks secret
(``whsec_`` + base64 of 24 to 64 random bytes), read from its own file like the keys, so the
registry itself holds no secret.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from jwt import PyJWK
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from broker.errors import ConfigurationError
from broker.security.jwks import JwksFetcher, RemoteJwks, check_jwks_uri, parse_jwks
from consent.models import PartnerRef, PartnerType

SLUG = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
_KBO_FORMATTED = re.compile(r"[01]\d{3}\.?\d{3}\.?\d{3}")


def normalize_kbo(value: str) -> str | None:
    """The 10-digit KBO enterprise number if ``value`` is a valid one (dots allowed), else
    ``None``. DESIGN §3: 10 digits starting with 0 or 1; the last two are
    ``97 - (first eight mod 97)``."""
    if not isinstance(value, str) or not _KBO_FORMATTED.fullmatch(value):
        return None
    digits = value.replace(".", "")
    if int(digits[8:]) != 97 - int(digits[:8]) % 97:
        return None
    return digits


class _NetworkSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=SLUG, max_length=64)
    name: str


LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret


def webhook_url_problem(url: str) -> str | None:
    """Why ``url`` is no acceptable webhook URL, or None: ``https://host...``, or ``http://`` to a
    loopback host; no user info, no fragment."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        return "not a URL"
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return "not an http(s) URL"
    if parts.username is not None or parts.password is not None or parts.fragment:
        return "a webhook URL carries no user info and no fragment"
    if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
        return "http is accepted only to a loopback address; use https"
    return None


class _WebhookSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(max_length=2000)
    secret_file: str

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        problem = webhook_url_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value


class _PartnerSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=SLUG, max_length=64)
    kbo: str
    type: PartnerType
    name: str
    network: str
    bound_by_secrecy: bool
    active: bool = True
    jwks: dict[str, Any] | None = None
    jwks_file: str | None = None
    jwks_uri: str | None = Field(default=None, max_length=2048)
    webhook: _WebhookSpec | None = None

    @field_validator("kbo")
    @classmethod
    def _kbo(cls, value: str) -> str:
        normalized = normalize_kbo(value)
        if normalized is None:
            raise ValueError("not a valid KBO enterprise number (10 digits, mod-97 check)")
        return normalized

    @field_validator("jwks_uri")
    @classmethod
    def _jwks_uri(cls, value: str | None) -> str | None:
        return None if value is None else check_jwks_uri(value)

    @model_validator(mode="after")
    def _one_key_source(self) -> _PartnerSpec:
        if sum(x is not None for x in (self.jwks, self.jwks_file, self.jwks_uri)) != 1:
            raise ValueError("give exactly one of jwks, jwks_file or jwks_uri")
        return self


class _RegistrySpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    demo: bool = False
    networks: list[_NetworkSpec]
    partners: list[_PartnerSpec]


@dataclass(frozen=True)
class Network:
    id: str
    name: str


@dataclass(frozen=True)
class Webhook:
    """Where a partner's events go and the secret they are signed with (Standard Webhooks)."""

    url: str
    secret: str = field(repr=False)  # whsec_<base64>

    @property
    def is_loopback_http(self) -> bool:
        return urlsplit(self.url).scheme == "http"


@dataclass(frozen=True)
class Partner:
    id: str
    kbo: str
    type: PartnerType
    name: str
    network: str
    bound_by_secrecy: bool
    active: bool
    keys: dict[str, PyJWK] = field(repr=False, compare=False)
    remote: RemoteJwks | None = field(default=None, repr=False, compare=False)
    webhook: Webhook | None = field(default=None, repr=False, compare=False)

    def key(self, kid: str) -> PyJWK | None:
        """This partner's public key ``kid`` (from its ``jwks_uri`` when it has one), or None."""
        if self.remote is not None:
            return self.remote.key(kid)
        return self.keys.get(kid)


@dataclass(frozen=True)
class Registry:
    networks: dict[str, Network]
    partners: dict[str, Partner]
    demo: bool = False

    def partner(self, partner_id: str) -> Partner | None:
        return self.partners.get(partner_id)

    def partner_refs(self) -> dict[str, PartnerRef]:
        """What the consent rules need of every partner (``consent.rules.check_recipient``)."""
        return {p.id: PartnerRef(type=p.type, network=p.network,
                                 bound_by_secrecy=p.bound_by_secrecy)
                for p in self.partners.values()}

    def partners_in(self, network: str) -> list[Partner]:
        return [p for p in self.partners.values() if p.network == network]


def _resolve(path_text: str, base: Path, data_dir: Path) -> Path:
    path = Path(path_text.replace("{data_dir}", str(data_dir)))
    return path if path.is_absolute() else base / path


def _load_webhook(spec: _PartnerSpec, base: Path, data_dir: Path) -> Webhook | None:
    if spec.webhook is None:
        return None
    path = _resolve(spec.webhook.secret_file, base, data_dir)
    try:
        secret = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigurationError(
            f"webhook secret of partner {spec.id!r} not readable at {path}") from exc
    try:
        raw = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ConfigurationError(
            f"webhook secret of partner {spec.id!r} is not whsec_<base64>") from exc
    if not secret.startswith(SECRET_PREFIX) or not 24 <= len(raw) <= 64:
        raise ConfigurationError(
            f"webhook secret of partner {spec.id!r} must be whsec_ and 24 to 64 bytes in base64")
    return Webhook(url=spec.webhook.url, secret=secret)


def _load_keys(spec: _PartnerSpec, base: Path, data_dir: Path) -> dict[str, PyJWK]:
    if spec.jwks is not None:
        jwks: object = spec.jwks
    else:
        assert spec.jwks_file is not None
        path = _resolve(spec.jwks_file, base, data_dir)
        try:
            jwks = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigurationError(
                f"keys of partner {spec.id!r} not found at {path}"
                + (
                    " (run `gbo-broker demo` to create the demo keys)"
                    if "demo" in str(path)
                    else ""
                )
            ) from exc
        except (OSError, ValueError) as exc:
            raise ConfigurationError(f"keys of partner {spec.id!r} at {path} are not JSON") from exc
    return parse_jwks(spec.id, jwks)


def parse_registry(raw: Any, *, base: Path, data_dir: Path,
                   fetcher: JwksFetcher | None = None) -> Registry:
    """Validate a registry document; partners with a ``jwks_uri`` get their keys through
    ``fetcher`` (default: the default cache times), fetched at first use. Raises
    ``ConfigurationError`` naming what is wrong."""
    fetcher = fetcher or JwksFetcher()
    try:
        spec = _RegistrySpec.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigurationError(f"invalid partner registry: {problems}") from exc
    networks = {n.id: Network(id=n.id, name=n.name) for n in spec.networks}
    partners: dict[str, Partner] = {}
    for p in spec.partners:
        if p.id in partners:
            raise ConfigurationError(f"partner {p.id!r} is listed twice")
        if p.network not in networks:
            raise ConfigurationError(f"partner {p.id!r} names unknown network {p.network!r}")
        partners[p.id] = Partner(
            id=p.id,
            kbo=p.kbo,
            type=p.type,
            name=p.name,
            network=p.network,
            bound_by_secrecy=p.bound_by_secrecy,
            active=p.active,
            keys={} if p.jwks_uri is not None else _load_keys(p, base, data_dir),
            remote=None if p.jwks_uri is None else fetcher.remote(p.id, p.jwks_uri),
            webhook=_load_webhook(p, base, data_dir),
        )
    return Registry(networks=networks, partners=partners, demo=spec.demo)


def load_registry(path: Path, *, data_dir: Path,
                  fetcher: JwksFetcher | None = None) -> Registry:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigurationError(f"partner registry not found at {path}") from exc
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"partner registry at {path} is not valid YAML") from exc
    return parse_registry(raw, base=path.parent, data_dir=data_dir, fetcher=fetcher)
