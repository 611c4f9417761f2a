"""Witnessing (DESIGN §9): the broker submits each new checkpoint, with a consistency proof from
the size the witness last cosigned, to every configured witness (C2SP tlog-witness), verifies
and stores the cosignatures it gets back (C2SP tlog-cosignature), and serves them appended to
``GET /v1/audit/checkpoint``.

A background thread does it, apart from the log writer: a witness that is down, slow or
refusing never delays an append. Per witness it keeps the size the witness last cosigned
(from its 409 answers and the stored cosignatures), and backs off exponentially (1 s doubling
up to ``max_backoff``) after a failure. A witness *ahead* of the log (it cosigned a size larger
than the log now has) means the log was cut back: that is logged as an error every round and
never "fixed" by the broker.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from audit.cosignature import CosignatureVerifier, open_cosigned, signature_lines
from audit.entry import format_time
from audit.errors import AuditError, KeyFormatError
from audit.keys import Ed25519Verifier
from audit.store import AuditStore, StoredCheckpoint, StoredCosignature
from audit.witness import WitnessUnavailable, add_checkpoint, add_checkpoint_body
from broker.errors import ConfigurationError

log = logging.getLogger("gbo.witness")


@dataclass(frozen=True)
class Witness:
    """A configured witness: its cosigning key and, optionally, its URL prefix (submission and
    monitoring prefix alike)."""

    verifier: CosignatureVerifier
    url: str | None = None

    @property
    def public_key(self) -> str:
        return base64.b64encode(self.verifier.public_key).decode()

    @property
    def name(self) -> str:
        return self.verifier.name


def parse_witnesses(text: str | None) -> list[Witness]:
    """``GBO_WITNESSES`` (and ``audit verify --witness``): entries separated by newlines or
    commas, each ``<vkey> [<url>]``. Raises ``ConfigurationError`` for a malformed entry."""
    found: list[Witness] = []
    for raw in (text or "").replace(",", "\n").splitlines():
        parts = raw.split()
        if not parts:
            continue
        if len(parts) > 2 or (len(parts) == 2
                              and not parts[1].startswith(("http://", "https://"))):
            raise ConfigurationError("a witness is '<vkey> [http(s)://url]'")
        try:
            verifier = CosignatureVerifier.from_key_string(parts[0])
        except KeyFormatError as exc:
            raise ConfigurationError(f"witness key {parts[0][:40]!r}: {exc}") from exc
        found.append(Witness(verifier, parts[1].rstrip("/") if len(parts) == 2 else None))
    if len({w.public_key for w in found}) != len(found):
        raise ConfigurationError("a witness key is configured twice")
    return found


def note_with_cosignatures(checkpoint: StoredCheckpoint,
                           cosignatures: Iterable[StoredCosignature]) -> str:
    """The log's signed note with the newest stored cosignature of each witness appended."""
    newest: dict[str, StoredCosignature] = {}
    for cos in cosignatures:
        if cos.root == checkpoint.root and cos.timestamp >= getattr(
                newest.get(cos.witness), "timestamp", -1):
            newest[cos.witness] = cos
    return checkpoint.note + signature_lines([c.line for c in newest.values()])


def served_checkpoint(store: AuditStore, witnesses: Sequence[Witness],
                      quorum: int) -> StoredCheckpoint | None:
    """The checkpoint ``GET /v1/audit/checkpoint`` serves: the newest one cosigned by
    ``quorum`` configured witnesses, with its cosignatures appended; without witnesses (or
    before any quorum) the newest signed one."""
    size = store.newest_cosigned([w.public_key for w in witnesses], quorum)
    chosen = store.checkpoint(size) if size is not None else store.latest_checkpoint()
    if chosen is None:
        return None
    note = note_with_cosignatures(chosen, store.cosignatures(chosen.size))
    return StoredCheckpoint(chosen.size, chosen.root, note, chosen.signed_at)


@dataclass
class WitnessState:
    """What the broker knows of one witness: the size it last cosigned (None: not asked yet),
    consecutive failures, when to try next, and the last outcome (for operators)."""

    known: int | None = None
    failures: int = 0
    next_try: float = 0.0
    outcome: str = "not asked yet"
    ahead: bool = False


@dataclass
class Witnessing:
    store: AuditStore
    witnesses: Sequence[Witness]
    log_verifier: Ed25519Verifier
    # after a rotation of the log key: all of its keys, current first (DESIGN §7)
    log_verifiers: Callable[[], Sequence[Ed25519Verifier]] | None = None
    interval: float = 1.0
    timeout: float = 5.0
    max_backoff: float = 60.0
    clock: Callable[[], float] = time.monotonic
    now: Callable[[], datetime] = lambda: datetime.now(UTC)
    states: dict[str, WitnessState] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="audit-witnessing", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.timeout + 5)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.run_once()
            except Exception:  # noqa: BLE001 - the next round tries again; appends go on
                log.exception("witnessing round failed")

    def run_once(self) -> dict[str, str]:
        """One round: submit the newest checkpoint to each witness that is due. Returns each
        witness's outcome by name."""
        try:
            checkpoint = self.store.latest_checkpoint()
        except AuditError:
            return {}
        if checkpoint is None:
            return {}
        for witness in self.witnesses:
            if witness.url is None:
                continue
            state = self.states.setdefault(witness.public_key, WitnessState())
            if self.clock() >= state.next_try:
                self._submit(witness, state, checkpoint)
        return {w.name: self.states[w.public_key].outcome for w in self.witnesses
                if w.public_key in self.states}

    def _submit(self, witness: Witness, state: WitnessState,
                checkpoint: StoredCheckpoint) -> None:
        if state.known is None:
            state.known = self.store.witnessed_size(witness.public_key) or 0
        for _ in range(3):  # a 409 tells the witness's size: then ask again at once
            if state.known > checkpoint.size:
                state.ahead = True
                log.error("witness is ahead of the log: the log was cut back",
                          extra={"witness": witness.name, "witness_size": state.known,
                                 "log_size": checkpoint.size})
                self._back_off(state, "ahead of the log")
                return
            state.ahead = False
            if state.known == checkpoint.size and self._has_cosignature(witness, checkpoint):
                state.outcome = f"cosigned {checkpoint.size}"
                return
            old = state.known
            proof = (self.store.consistency_proof(old, checkpoint.size)
                     if 0 < old < checkpoint.size else [])
            try:
                answer = add_checkpoint(witness.url or "",
                                        add_checkpoint_body(old, proof, checkpoint.note),
                                        timeout=self.timeout)
            except WitnessUnavailable as exc:
                self._back_off(state, str(exc))
                return
            if answer.status == 409 and answer.size is not None:
                state.known = answer.size
                continue
            if answer.status != 200:
                log.error("witness refused the checkpoint",
                          extra={"witness": witness.name, "status": answer.status})
                self._back_off(state, f"refused ({answer.status})")
                return
            self._store(witness, state, checkpoint, answer.lines)
            return
        self._back_off(state, "size kept changing")

    def _has_cosignature(self, witness: Witness, checkpoint: StoredCheckpoint) -> bool:
        return any(c.witness == witness.public_key and c.root == checkpoint.root
                   for c in self.store.cosignatures(checkpoint.size))

    def _store(self, witness: Witness, state: WitnessState, checkpoint: StoredCheckpoint,
               lines: Sequence[str]) -> None:
        try:
            logs = (self.log_verifiers() if self.log_verifiers is not None
                    else [self.log_verifier])
            opened = open_cosigned(checkpoint.note + signature_lines(lines), logs,
                                   [witness.verifier])
        except AuditError:
            opened = None
        found = opened.cosigners.get(witness.public_key) if opened else None
        if found is None:
            log.error("witness answered without a valid cosignature",
                      extra={"witness": witness.name})
            self._back_off(state, "invalid cosignature")
            return
        name, timestamp, line = found
        self.store.add_cosignature(StoredCosignature(
            size=checkpoint.size, root=checkpoint.root, witness=witness.public_key, name=name,
            timestamp=timestamp, line=line, received_at=format_time(self.now())))
        state.known, state.failures, state.next_try = checkpoint.size, 0, 0.0
        state.outcome = f"cosigned {checkpoint.size}"

    def _back_off(self, state: WitnessState, why: str) -> None:
        state.failures += 1
        state.next_try = self.clock() + min(self.max_backoff, 2.0 ** (state.failures - 1))
        state.outcome = why

    def snapshot(self) -> dict[str, Any]:
        return {w.name: vars(self.states.get(w.public_key, WitnessState()))
                for w in self.witnesses}
