"""The rate limits (DESIGN §6; docs/operations.md "Rate limits"): one token bucket per partner,
one per logged-in portal session and one per client of the v1 API, so that a leaked partner key
or a scripted session cannot draw on the network faster than people at work do.

Whom a bucket counts is always authenticated, never caller-chosen: a partner's bucket is taken
only after its token is fully verified (``broker.deps.current_partner``), its single-use ``jti``
included; a session's only after the session holds on the server. Both come before any work of a
route (policy, decryption, the audit log). The ``jti`` goes first on purpose: counted before it,
anyone who saw one token (in a proxy's log, say) could replay it for its five minutes and drain
the partner's budget; refused replays must cost the partner nothing. A refused request thus
spends its token, which costs the partner nothing either: a ``jti`` is single use (DESIGN §6),
so a partner system signs a token per request, the retry included.

A refusal of a partner is counted per day (``/audit/limieten``; the counts of a process are
written at most twice a second, so a flood of refusals cannot turn into a flood of writes) and
in the metric ``gbo_rate_limited_total{kind}``. It is not an audit entry: the log holds facts about
clients' data and the rules that guard them (DESIGN §3, §7), and a refused request touched
neither; entries there are forever, so a leaked key could otherwise fill the log at will.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
from datetime import datetime
from typing import Literal

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from prometheus_client import Counter
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from broker.errors import RateLimited
from broker.settings import Settings
from broker.store.rate_limits import (
    DatabaseBuckets,
    Limit,
    MemoryBuckets,
    make_buckets,
    record_refusals,
)

log = logging.getLogger("gbo.ratelimit")
SessionKind = Literal["client", "auditor"]
# The metric's closed label set: a partner, a portal session, a client's v1 API token.
KINDS = ("partner", "client_session", "auditor_session", "client_api")
FLUSH_EVERY = 1.0  # seconds: refusal counts are written at most twice per interval per process


class RateLimiter:
    def __init__(self, *, engine: Engine, buckets: MemoryBuckets | DatabaseBuckets,
                 partner: Limit, session: Limit, refused: Counter, subject_key: bytes) -> None:
        self._engine = engine
        self._subject_key = subject_key
        self._buckets = buckets
        self.partner = partner
        self.session = session
        self._refused = refused
        self._lock = threading.Lock()
        self._pending: dict[str, tuple[int, datetime]] = {}  # partner -> (count, last)
        self._timer: threading.Timer | None = None
        self.flush_every = FLUSH_EVERY

    @classmethod
    def from_settings(cls, settings: Settings, engine: Engine, refused: Counter,
                      session_key: bytes) -> RateLimiter:
        """``session_key``: the portal session key, from which the key that names a client's
        bucket is derived (HKDF, RFC 5869): the bucket table never holds an INSZ, nor a hash of
        one that could be tried against every national number."""
        partner = Limit(settings.rate_limit_partner_per_second, settings.rate_limit_partner_burst)
        session = Limit(settings.rate_limit_session_per_second, settings.rate_limit_session_burst)
        keep_for = max([lim.full_after for lim in (partner, session) if lim.enabled],
                       default=0.0)
        buckets = make_buckets(settings.rate_limit_store, engine, keep_for=keep_for)
        subject_key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                           info=b"gbo-broker/rate-limit-subject/v1").derive(session_key)
        return cls(engine=engine, buckets=buckets, partner=partner, session=session,
                   refused=refused, subject_key=subject_key)

    def check_partner(self, partner: str, now: datetime) -> None:
        """Take one of ``partner``'s tokens (a registry id, authenticated). Raises
        ``RateLimited`` with the seconds to wait when there is none."""
        if not self.partner.enabled:
            return
        wait = self._buckets.take(f"partner:{partner}", self.partner, now.timestamp())
        if wait is None:
            return
        self._refused.labels("partner").inc()
        self._count_refusal(partner, now)
        raise RateLimited(wait)

    def check_session(self, kind: SessionKind, sid: str, now: datetime) -> None:
        """Take one of a logged-in portal session's tokens (``sid``: its server-side id).
        Raises ``RateLimited`` when there is none."""
        if not self.session.enabled:
            return
        bucket = "session:" + hashlib.sha256(sid.encode()).hexdigest()[:64]
        wait = self._buckets.take(bucket, self.session, now.timestamp())
        if wait is None:
            return
        self._refused.labels(f"{kind}_session").inc()
        raise RateLimited(wait)

    def check_client(self, insz: str, now: datetime) -> None:
        """Take one of a client's tokens for the v1 API (``/v1/me/*``), by the person the
        verified token names, with the portal session's limit: a client app is a person at
        work too. Raises ``RateLimited`` when there is none."""
        if not self.session.enabled:
            return
        ref = hmac.new(self._subject_key, insz.encode(), hashlib.sha256).hexdigest()
        wait = self._buckets.take(f"client:{ref}", self.session, now.timestamp())
        if wait is None:
            return
        self._refused.labels("client_api").inc()
        raise RateLimited(wait)

    def _count_refusal(self, partner: str, now: datetime) -> None:
        """The first refusal is written at once (the page shows the partner without delay);
        those of the next ``flush_every`` seconds are summed and written together then."""
        with self._lock:
            count = self._pending.get(partner, (0, now))[0]
            self._pending[partner] = (count + 1, now)
            now_too = self._timer is None
            if now_too:
                self._timer = threading.Timer(self.flush_every, self._flush_later)
                self._timer.daemon = True
                self._timer.start()
        if now_too:
            self.flush()

    def _flush_later(self) -> None:
        with self._lock:
            self._timer = None
        self.flush()

    def flush(self) -> None:
        """Write the refusals counted so far."""
        with self._lock:
            pending, self._pending = self._pending, {}
        for partner, (count, last) in pending.items():
            try:
                record_refusals(engine=self._engine, partner=partner, count=count, now=last)
            except SQLAlchemyError as exc:  # the 429s stand; only their count is lost
                log.warning("rate limit refusals not recorded",
                            extra={"error_type": type(exc).__name__})

    def close(self) -> None:
        """Stop the timer and write what is counted."""
        with self._lock:
            timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
        self.flush()
