"""Whole-log verification in constant memory (DESIGN §7).

Leaves are streamed in index order through an RFC 6962 frontier (as ``CompactRange``, inlined in
the hot loop); the recomputed root must equal the
root of every trusted checkpoint (signed by the log's key, or remembered from an earlier run) at
that checkpoint's size. The first bad index is named where the data allows it:

- a missing index (a deleted row) is reported at that index;
- a leaf whose bytes no longer hash to the stored level-0 node (changed or moved) at that index;
- DESIGN §9, the stored hash index: every stored subtree hash (what inclusion and consistency
  proofs, tiles and the next checkpoint's root are made from) must equal the one recomputed from
  the leaves, and none may be missing; a bad one is named by the first leaf it covers. The nodes
  a page of leaves completes are compared together after the page is read (one range per
  level), so a node missing at the tail of a growing log is not taken for one not yet written;
- fewer leaves than a checkpoint covers (truncation) at the first missing index;
- two checkpoints of one size with different roots (a fork, e.g. one seen by a witness): no index;
- a root mismatch at a checkpoint: the leaves of the range it covers are read again and the first
  whose ``index`` field is not its position (rows swapped with their hashes) is named; failing
  that, the start of the range.

- DESIGN §9, "Verification covers everything stored": a leaf whose stored query columns (kind,
  time, network, partner, client, break-glass: what searches and the client's access log filter
  on) differ from the ones its bytes give (``audit.entry.index_columns``) at that index, naming
  the columns. A source that reads no columns (tiles) skips this check.

The signed root already commits to every leaf in order, so leaves are parsed only to recompute
their columns; a failing range is re-read, through ``reread``, to name the moved leaf. Whatever
is found, the error raised is the one a leaf-by-leaf check meets first.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

from audit.checkpoint import Checkpoint
from audit.entry import INDEXED_FIELDS, Columns, StoredLeaf, leaf_columns, stored_flag
from audit.errors import AuditIntegrityError
from audit.merkle import NodeKey, fold

LeafRow: TypeAlias = tuple[Any, ...]
"""A leaf as the verifier reads it: ``(index, leaf)``, or ``(index, leaf, *columns)`` with its
stored query columns in ``INDEXED_FIELDS`` order (the flag as stored: 0/1 or a bool)."""

StoredNodes: TypeAlias = Callable[[int, int, int], Sequence[tuple[int, bytes]]]
"""``(level, start, end)`` -> the stored ``(idx, hash)`` of that level in ``[start, end)``, in
index order."""

NODE_BATCH = 8192
"""Leaves whose completed nodes are compared with the stored ones in one go (a range query
per level)."""

PROGRESS_BATCH = 1024
"""The same when progress is reported: every ``PROGRESS_BATCH`` leaves at most."""

_LEAF_PREFIX = b"\x00"  # RFC 9162 2.1.1, as audit.merkle.leaf_hash / node_hash
_NODE_PREFIX = b"\x01"


@dataclass(frozen=True)
class VerifyReport:
    leaves: int
    checkpoint: Checkpoint
    checkpoints_checked: int

    @property
    def unsigned_tail(self) -> int:
        """Leaves appended after the newest checkpoint: ordered and intact, not yet signed."""
        return self.leaves - self.checkpoint.size


def _leaf_index(leaf: bytes) -> object:
    try:
        entry = json.loads(leaf)
    except ValueError:
        return None
    return entry.get("index") if isinstance(entry, dict) else None


def _first_misplaced(leaves: Iterable[StoredLeaf]) -> int | None:
    """The first leaf whose ``index`` field differs from its position, if any."""
    for item in leaves:
        if _leaf_index(item.leaf) != item.index:
            return item.index
    return None


def check_columns(item: StoredLeaf) -> None:
    """Raises ``AuditIntegrityError`` (``index`` set) if ``item``'s stored query columns differ
    from those its bytes give; nothing to check when it was read without columns."""
    if item.columns is None:
        return
    derived = leaf_columns(item.leaf)
    if derived != item.columns:
        raise AuditIntegrityError(
            f"leaf {item.index}: the stored {_differing(derived, item.columns)} "
            "differ from the leaf: the search index was changed",
            index=item.index,
        )


def _differing(derived: Columns | None, stored: Columns) -> str:
    if derived is None:
        return "columns"
    names = [n for n, a, b in zip(INDEXED_FIELDS, derived, stored, strict=True)
             if a != b or type(a) is not type(b)]
    return "column(s) " + ", ".join(names)


def _covered(key: NodeKey) -> str:
    level, idx = key
    return f"leaf {idx}" if level == 0 else f"leaves [{idx << level}, {(idx + 1) << level})"


def _first_bad_node(
    level: int, lo: int, computed: Sequence[bytes], stored: Sequence[tuple[int, bytes]]
) -> tuple[int, AuditIntegrityError] | None:
    """The index and error of the first node of ``level`` from ``lo`` whose stored hash is
    missing or differs from ``computed`` (``stored``: the rows read for that range, in order)."""
    rows = iter(stored)
    row = next(rows, None)
    for idx, recomputed in enumerate(computed, lo):
        while row is not None and row[0] < idx:  # not a node of this range: not compared
            row = next(rows, None)
        key = (level, idx)
        if row is None or row[0] != idx:
            return idx, AuditIntegrityError(f"the stored hash of {_covered(key)} is missing",
                                            index=idx << level)
        if row[1] != recomputed:
            return idx, AuditIntegrityError(
                f"leaf {idx} was changed" if level == 0 else
                f"the stored hash of {_covered(key)} was changed: proofs and tiles made from "
                "it are wrong", index=idx << level)
        row = next(rows, None)
    return None


def verify_log(
    leaves: Iterable[StoredLeaf],
    *,
    checkpoints: Sequence[Checkpoint],
    stored_nodes: StoredNodes | None = None,
    progress: Callable[[int], None] | None = None,
    reread: Callable[[int, int], Iterable[StoredLeaf]] | None = None,
) -> VerifyReport:
    """Check ``leaves`` against ``checkpoints`` (already signature-verified, any order), and
    against the stored subtree hashes: ``stored_nodes(level, start, end)`` gives the stored
    ``(idx, hash)`` of that level with ``start <= idx < end`` in index order
    (``audit.store.AuditStore.node_rows``; None: not checked).

    Raises ``AuditIntegrityError`` with ``index`` set to the first bad leaf (see module doc), or
    without an index when there is no checkpoint to check against.
    """
    return verify_rows(_rows(leaves), checkpoints=checkpoints, stored_nodes=stored_nodes,
                       progress=progress, reread=reread)


def _rows(leaves: Iterable[StoredLeaf]) -> Iterator[list[LeafRow]]:
    page: list[LeafRow] = []
    for item in leaves:
        page.append((item.index, item.leaf) if item.columns is None
                    else (item.index, item.leaf, *item.columns))
        if len(page) == NODE_BATCH:
            yield page
            page = []
    if page:
        yield page


def verify_rows(
    pages: Iterable[Sequence[LeafRow]],
    *,
    checkpoints: Sequence[Checkpoint],
    stored_nodes: StoredNodes | None = None,
    progress: Callable[[int], None] | None = None,
    reread: Callable[[int, int], Iterable[StoredLeaf]] | None = None,
) -> VerifyReport:
    """:func:`verify_log` over leaves read as pages of plain rows (``LeafRow``): what a
    database source streams, with no object built per leaf."""
    if not checkpoints:
        raise AuditIntegrityError("there is no signed checkpoint to verify the log against")
    anchors = sorted(checkpoints, key=lambda c: c.size)
    pending = iter(anchors)
    anchor: Checkpoint | None = next(pending)
    checked, last_good = 0, 0
    # The RFC 6962 frontier (one hash per set bit of the size, as in ``CompactRange``) and the
    # nodes completed since the last comparison with the stored ones, per level (level 0: the
    # leaf hashes); ``base`` is the size at that comparison.
    frontier: list[bytes] = []
    completed: list[list[bytes]] = [[] for _ in range(64)]
    base = size = reported = 0

    def report(verified: int) -> None:
        """``progress(1)`` for each leaf up to ``verified`` not yet reported: a leaf counts as
        verified once its stored nodes were compared too."""
        nonlocal reported
        if progress is not None:
            for _ in range(verified - reported):
                progress(1)
        reported = max(reported, verified)

    def compare_nodes() -> None:
        """DESIGN §9: the stored subtree hashes of the nodes completed since ``base`` equal the
        recomputed ones; raises for the first bad one in the order the leaves complete them
        (as a leaf-by-leaf comparison would), one range query per level."""
        nonlocal base
        if stored_nodes is None:
            for nodes in completed:
                nodes.clear()
            base = size
            return
        first: tuple[int, int, AuditIntegrityError] | None = None
        for level, nodes in enumerate(completed):
            if not nodes:
                continue
            lo = base >> level
            stored = stored_nodes(level, lo, lo + len(nodes))
            if len(stored) != len(nodes) or stored != list(zip(range(lo, lo + len(nodes)),
                                                              nodes, strict=True)):
                bad = _first_bad_node(level, lo, nodes, stored)
                if bad is not None:
                    # ordered by the leaf that completes the node, as a leaf-by-leaf check
                    done = ((bad[0] + 1) << level) - 1
                    if first is None or (done, level) < first[:2]:
                        first = (done, level, bad[1])
            nodes.clear()
        base = size
        if first is not None:
            report(first[0])  # the leaves before the one that completes the bad node
            raise first[2]

    def check_anchor() -> None:
        nonlocal anchor, checked, last_good
        while anchor is not None and anchor.size == size:
            if fold(frontier) != anchor.root_hash:
                if checked and anchor.size == last_good:
                    # Another checkpoint of this size matched the leaves: the log key signed
                    # two trees of one size (DESIGN §9: a fork, e.g. a split view).
                    raise AuditIntegrityError(
                        f"the log signed two different trees of size {anchor.size}: it was "
                        "forked (a split view); the leaves match only one of them")
                moved = _first_misplaced(reread(last_good, anchor.size)) if reread else None
                if moved is not None:
                    raise AuditIntegrityError(
                        f"leaf {moved} does not hold entry {moved}: rows were moved or replaced",
                        index=moved,
                    )
                raise AuditIntegrityError(
                    f"the log's root at size {anchor.size} differs from the signed checkpoint: "
                    f"a leaf in [{last_good}, {anchor.size}) was changed",
                    index=last_good,
                )
            checked += 1
            last_good = anchor.size
            anchor = next(pending, None)

    check_anchor()  # a checkpoint of size 0
    # The hot loop (whole-log verification is bound by it): no object is built per leaf but
    # its hashes and parsed columns, the next checkpoint's size is kept in a local and the
    # anchor is checked only when the tree reaches it; the stored nodes are compared a page of
    # leaves at a time. Before any error is raised, the nodes of the leaves before it are
    # compared, so the error named is the first a leaf-by-leaf check would meet.
    sha256, pop, push = hashlib.sha256, frontier.pop, frontier.append
    leaf_hashes = completed[0]
    next_size = -1 if anchor is None else anchor.size
    # With a progress callback, smaller steps: progress counts only leaves whose nodes matched.
    batch = NODE_BATCH if progress is None else PROGRESS_BATCH
    for page in pages:
        for row in page:
            leaf = row[1]
            if row[0] != size:
                compare_nodes()
                report(size)
                raise AuditIntegrityError(f"leaf {size} is missing", index=size)
            if len(row) > 2 and leaf_columns(leaf) != row[2:]:
                compare_nodes()
                report(size)
                check_columns(StoredLeaf(index=size, leaf=leaf,
                                         columns=(*row[2:-1], stored_flag(row[-1]))))
            h = sha256(_LEAF_PREFIX + leaf).digest()
            leaf_hashes.append(h)
            n, level = size, 0
            while n & 1:  # each trailing one bit of the old size: a complete left sibling
                h = sha256(_NODE_PREFIX + pop() + h).digest()
                level += 1
                completed[level].append(h)
                n >>= 1
            push(h)
            size += 1
            if size == next_size:
                compare_nodes()
                report(size - 1)  # this leaf counts once the checkpoint matched
                check_anchor()
                next_size = -1 if anchor is None else anchor.size
            if len(leaf_hashes) >= batch:
                compare_nodes()
                report(size)
    compare_nodes()
    report(size)
    if anchor is not None:
        raise AuditIntegrityError(
            f"the log ends after {size} leaves but a checkpoint covers {anchor.size}: "
            "it was truncated",
            index=size,
        )
    return VerifyReport(leaves=size, checkpoint=anchors[-1], checkpoints_checked=checked)
