"""The keys of the dossier store: the KEKs and the per-network pseudonym secrets.

DESIGN §6, KEK rotation without downtime: new data keys are wrapped by the current KEK; a data
key wrapped by a retired KEK (its ``kek_id`` says which) stays readable until
``broker.store.rewrap`` has re-wrapped it. A running broker learns of a rotation through
``kek_source`` (the watched key file): at its next look, or at once when it meets a ``kek_id`` it
does not know.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from broker.errors import ClientErased, ConfigurationError
from broker.store import crypto


class ClientKeyHolder(Protocol):
    """What unwrapping a client's data key reads: a stored ``Client``, or the plain
    ``ClientKey`` the access flow reads (``broker.services.dossier.find_client_key``)."""

    @property
    def id(self) -> str: ...
    @property
    def kek_id(self) -> str: ...
    @property
    def data_key_wrapped(self) -> bytes | None: ...

# A client id no client can have (ids are ``c-`` and 32 hex digits): the decoy's, same length.
DECOY_CLIENT_ID = "c-" + "x" * 32


@dataclass(frozen=True)
class KekSet:
    """The current KEK and the retired ones, by ``kid``."""

    current: crypto.KeyEncryptionKey
    retired: Mapping[str, crypto.KeyEncryptionKey] = field(default_factory=dict)

    def get(self, kid: str) -> crypto.KeyEncryptionKey | None:
        return self.current if kid == self.current.kid else self.retired.get(kid)


class KekSource(Protocol):
    """Where the KEKs come from (``broker.security.key_watch.WatchedFile``): ``get`` is cheap
    and may look at the key file; ``refresh`` looks now."""

    def get(self) -> KekSet: ...
    def refresh(self) -> KekSet: ...


@dataclass(frozen=True)
class Keyring:
    kek: crypto.KeyEncryptionKey  # the KEK at start-up: wraps the decoy (``detail_key``)
    pseudonym_secrets: dict[str, bytes] = field(repr=False)
    kek_source: KekSource | None = field(default=None, repr=False, compare=False)
    # DESIGN §4 no existence leak: a data key wrapped like a client's, made at start-up and never
    # kept in clear, unwrapped in place of a client's when there is none (``detail_key``).
    _decoy_wrapped: bytes = field(init=False, repr=False, default=b"")

    def __post_init__(self) -> None:
        object.__setattr__(self, "_decoy_wrapped",
                           self.kek.wrap(crypto.new_data_key(), DECOY_CLIENT_ID))

    def client_ref(self, network: str, insz: str) -> str:
        """The client's pseudonym in ``network`` (HMAC-SHA-256 with that network's secret)."""
        try:
            secret = self.pseudonym_secrets[network]
        except KeyError as exc:
            raise ConfigurationError(f"no pseudonym secret for network {network!r}") from exc
        return crypto.pseudonym(secret, insz)

    def worker_ref(self, network: str, partner: str, subject: str) -> str:
        """The pseudonym of ``partner``'s worker ``subject`` (a token's ``sub``) in ``network``:
        the only form of a worker id the broker logs, audits or hands on (DESIGN §9). The key is
        the network's pseudonym secret, which already never leaves the broker; a partner's DPO
        maps a worker to it with ``gbo-broker worker pseudonym``."""
        try:
            secret = self.pseudonym_secrets[network]
        except KeyError as exc:
            raise ConfigurationError(f"no pseudonym secret for network {network!r}") from exc
        return crypto.worker_pseudonym(secret, partner, subject)

    def keks(self) -> KekSet:
        """The KEKs in use now."""
        return self.kek_source.get() if self.kek_source is not None else KekSet(self.kek)

    def new_data_key(self, client_id: str) -> tuple[bytes, bytes, str]:
        """A fresh data key for ``client_id``, its wrapped form and the ``kid`` of the KEK
        that wrapped it (the current one)."""
        kek = self.keks().current
        key = crypto.new_data_key()
        return key, kek.wrap(key, client_id), kek.kid

    def kek_for(self, kid: str) -> crypto.KeyEncryptionKey:
        """The KEK ``kid``, current or retired. Raises ``ConfigurationError`` when no key file
        holds it (not even after a look at the file)."""
        kek = self.keks().get(kid)
        if kek is None and self.kek_source is not None:
            kek = self.kek_source.refresh().get(kid)  # a rotation may have just happened
        if kek is None:
            raise ConfigurationError(f"client key is wrapped by unknown KEK {kid!r}")
        return kek

    def data_key(self, client: ClientKeyHolder) -> bytes:
        """Unwrap the client's data key. Raises ``ClientErased`` after crypto-shredding and
        ``ConfigurationError`` for a KEK no key file holds."""
        if client.data_key_wrapped is None:
            raise ClientErased()
        return self.kek_for(client.kek_id).unwrap(client.data_key_wrapped, client.id)

    def detail_key(self, client: ClientKeyHolder | None) -> bytes:
        """The key an audit entry's detail about ``client`` is encrypted with (DESIGN §7): the
        client's data key; for a client without one (never seen, or erased) a decoy key,
        unwrapped the same way and then forgotten, so the detail is there, the same size and
        the same work either way, and nobody can read it (DESIGN §4 no existence leak).
        Raises ``ConfigurationError`` when the client's key is wrapped by an unknown KEK."""
        if client is not None and client.data_key_wrapped is not None:
            return self.data_key(client)
        self.keks().get(self.kek.kid)  # the same look-up as a client's key (no existence leak)
        return self.kek.unwrap(self._decoy_wrapped, DECOY_CLIENT_ID)
