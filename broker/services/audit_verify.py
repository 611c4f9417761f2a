"""``gbo-broker audit verify``: recompute the whole log and check it against signed checkpoints.

Sources: the database directly, or a running broker's HTTP endpoints as an outside auditor would
(``/v1/audit/key``, ``/v1/audit/checkpoint``, ``/v1/audit/leaves`` with a supervisor token). A state
file remembers the newest checkpoint verified before: a log later cut back below it (with its newer
checkpoints deleted too) still fails.
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from audit.checkpoint import Checkpoint
from audit.cosignature import open_cosigned
from audit.entry import INDEXED_FIELDS, StoredLeaf
from audit.errors import AuditError, AuditIntegrityError
from audit.keys import Ed25519Verifier
from audit.store import AuditStore, StoredCosignature
from audit.verify import LeafRow, StoredNodes, VerifyReport, verify_log, verify_rows
from audit.witness import WitnessUnavailable, fetch_witness_checkpoint
from broker.witnessing import Witness, note_with_cosignatures

PAGE = 1000


@dataclass(frozen=True)
class LogSource:
    """Where the leaves and checkpoints come from."""

    total: int
    leaves: Callable[[int], Iterator[StoredLeaf]]  # from an index, in order
    # the stored subtree hashes of a level in a range of indexes; None: none to check
    stored_nodes: StoredNodes | None
    checkpoint_notes: list[str]
    # the same leaves as pages of plain rows (no object per leaf), when the source has them
    rows: Callable[[], Iterator[Sequence[LeafRow]]] | None = None

    def leaf_range(self, start: int, end: int) -> Iterator[StoredLeaf]:
        """Leaves ``[start, end)``: how a failing range is read again to name the bad leaf."""
        for item in self.leaves(start):
            if item.index >= end:
                return
            yield item


def database_source(store: AuditStore) -> LogSource:
    by_size: dict[int, list[StoredCosignature]] = {}
    for cos in store.cosignatures():
        by_size.setdefault(cos.size, []).append(cos)
    return LogSource(
        total=store.size(),
        leaves=lambda start: store.iter_leaves(start, columns=True),
        stored_nodes=store.node_rows,
        checkpoint_notes=[note_with_cosignatures(c, by_size.get(c.size, []))
                          for c in store.checkpoints()],
        rows=lambda: store.iter_leaf_rows(0, columns=True),
    )


def _get(url: str, token: str | None) -> bytes:
    if not url.startswith(("http://", "https://")):
        raise ValueError("the URL must start with http:// or https://")
    request = urllib.request.Request(url)  # noqa: S310 - scheme checked above
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        body: bytes = response.read()
        return body


def published_keys(base_url: str) -> list[str]:
    """Every verifier key the log at ``base_url`` publishes (``/v1/audit/keys``), current
    first: the retired ones verify the checkpoints signed before a rotation."""
    return _get(f"{base_url}/v1/audit/keys", None).decode().split()


def http_source(base_url: str, token: str | None) -> LogSource:
    note = _get(f"{base_url}/v1/audit/checkpoint", None).decode()

    def leaves(first: int) -> Iterator[StoredLeaf]:
        start: int | None = first
        while start is not None:
            page: dict[str, Any] = json.loads(
                _get(f"{base_url}/v1/audit/leaves?start={start}&limit={PAGE}", token)
            )
            for item in page["leaves"]:
                columns = item.get("columns")
                yield StoredLeaf(
                    index=item["index"], leaf=base64.b64decode(item["leaf"]),
                    columns=None if columns is None
                    else tuple(columns.get(name) for name in INDEXED_FIELDS),
                )
            start = page["next"]

    size = int(note.splitlines()[1])
    return LogSource(
        total=size, leaves=leaves, stored_nodes=None, checkpoint_notes=[note]
    )


@dataclass(frozen=True)
class Verified:
    """A verification's report, and what the witnesses said (DESIGN §9): the newest size
    cosigned by ``quorum`` of them (None without witnesses), and the witnesses whose own view
    could not be fetched."""

    report: VerifyReport
    quorum: int = 0
    witnessed_size: int | None = None
    unreachable: tuple[str, ...] = ()


def _witness_views(witnesses: Sequence[Witness], origin: str,
                   timeout: float) -> tuple[list[str], list[str]]:
    """Each witness's own latest view of the log (its monitoring endpoint): the notes, and the
    names of the witnesses that could not be asked."""
    views, unreachable = [], []
    for witness in witnesses:
        if witness.url is None:
            continue
        try:
            note = fetch_witness_checkpoint(witness.url, origin, timeout=timeout)
        except WitnessUnavailable:
            unreachable.append(witness.name)
            continue
        if note is not None:
            views.append(note)
    return views, unreachable


def verify(
    source: LogSource,
    verifier: Ed25519Verifier | Sequence[Ed25519Verifier],
    *,
    state: Path | None,
    progress: Callable[[int], None] | None = None,
    witnesses: Sequence[Witness] = (),
    quorum: int = 0,
    timeout: float = 10.0,
) -> Verified:
    """Raises ``AuditIntegrityError`` naming the first bad index, or a forged checkpoint.

    ``verifier`` is the log's key, or all of its keys after a rotation (DESIGN §7: the current
    one and the retired ones); each checkpoint must be signed by one of them.

    With ``witnesses`` (DESIGN §9): every checkpoint's cosignatures by them are verified, each
    witness that has a URL is asked for its own latest view (a log-signed checkpoint it
    cosigned), which becomes one more checkpoint the leaves must reach and match (a cut tail or
    a fork shows there, with no local state), and with ``quorum`` > 0 the log fails unless some
    checkpoint carries ``quorum`` valid cosignatures.
    """
    notes = list(source.checkpoint_notes)
    if state is not None and state.exists():
        notes.append(state.read_text())
    origin = verifier.name if isinstance(verifier, Ed25519Verifier) else verifier[0].name
    views, unreachable = _witness_views(witnesses, origin, timeout)
    keys = [w.verifier for w in witnesses]
    checkpoints: list[Checkpoint] = []
    cosigners: dict[tuple[int, bytes], set[str]] = {}
    for note in notes + views:
        try:
            opened = open_cosigned(note, verifier, keys)
        except AuditError as exc:
            raise AuditIntegrityError(
                f"a checkpoint does not verify with the log key: {exc}"
            ) from exc
        checkpoints.append(opened.checkpoint)
        key = (opened.checkpoint.size, opened.checkpoint.root_hash)
        cosigners.setdefault(key, set()).update(opened.cosigners)
    witnessed = max((size for (size, _), found in cosigners.items()
                     if quorum > 0 and len(found) >= quorum), default=None)
    if quorum > 0 and witnessed is None:
        raise AuditIntegrityError(
            f"no checkpoint carries {quorum} valid witness cosignature(s): the log's view "
            "is not one its witnesses vouch for (a fork, or a log cut back with its checkpoints)"
        )
    if source.rows is not None:
        report = verify_rows(source.rows(), checkpoints=checkpoints,
                             stored_nodes=source.stored_nodes, progress=progress,
                             reread=source.leaf_range)
    else:
        report = verify_log(source.leaves(0), checkpoints=checkpoints,
                            stored_nodes=source.stored_nodes, progress=progress,
                            reread=source.leaf_range)
    if state is not None:
        newest = max(zip(checkpoints, notes + views, strict=True),
                     key=lambda pair: pair[0].size)[1]
        _replace_atomically(state, newest)
    return Verified(report=report, quorum=quorum, witnessed_size=witnessed,
                    unreachable=tuple(unreachable))


def _replace_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that a reader (another verification, another worker) sees
    the old note or the new one, never half of one."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
