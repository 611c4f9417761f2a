"""Whole-log verification in constant memory (DESIGN §7).

Leaves are streamed in index order through a ``CompactRange``; the recomputed root must equal the
root of every trusted checkpoint (signed by the log's key, or remembered from an earlier run) at
that checkpoint's size. The first bad index is named where the data allows it:

- a missing index (a deleted row) is reported at that index;
- a leaf whose bytes no longer hash to the stored level-0 node (changed or moved) at that index;
- DESIGN §9, the stored hash index: every stored subtree hash (what inclusion and consistency
  proofs, tiles and the next checkpoint's root are made from) must equal the one recomputed from
  the leaves, and none may be missing; a bad one is named by the first leaf it covers;
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
their columns; a failing range is re-read, through ``reread``, to name the moved leaf.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from audit.checkpoint import Checkpoint
from audit.entry import INDEXED_FIELDS, Columns, StoredLeaf, leaf_columns
from audit.errors import AuditIntegrityError
from audit.merkle import CompactRange, NodeKey, leaf_hash


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


def _realign(stored: tuple[int, bytes] | None, level: Iterator[tuple[int, bytes]],
             key: NodeKey) -> tuple[int, bytes] | None:
    """Skip stored rows of no node of this tree (indexes before ``key``'s); raises
    ``AuditIntegrityError`` if the stored node ``key`` is missing."""
    while stored is not None and stored[0] < key[1]:
        stored = next(level, None)
    if stored is not None and stored[0] != key[1]:
        raise AuditIntegrityError(f"the stored hash of {_covered(key)} is missing",
                                  index=key[1] << key[0])
    return stored


def _covered(key: NodeKey) -> str:
    level, idx = key
    return f"leaf {idx}" if level == 0 else f"leaves [{idx << level}, {(idx + 1) << level})"


def verify_log(
    leaves: Iterable[StoredLeaf],
    *,
    checkpoints: Sequence[Checkpoint],
    stored_levels: Callable[[int], Iterable[tuple[int, bytes]]] | None = None,
    progress: Callable[[int], None] | None = None,
    reread: Callable[[int, int], Iterable[StoredLeaf]] | None = None,
) -> VerifyReport:
    """Check ``leaves`` against ``checkpoints`` (already signature-verified, any order), and
    against the stored subtree hashes: ``stored_levels(level)`` gives that level's stored
    ``(idx, hash)`` in index order (``audit.store.AuditStore.iter_level_hashes``; None: not
    checked).

    Raises ``AuditIntegrityError`` with ``index`` set to the first bad leaf (see module doc), or
    without an index when there is no checkpoint to check against.
    """
    if not checkpoints:
        raise AuditIntegrityError("there is no signed checkpoint to verify the log against")
    anchors = sorted(checkpoints, key=lambda c: c.size)
    pending = iter(anchors)
    anchor: Checkpoint | None = next(pending)
    checked, last_good = 0, 0
    levels: list[Iterator[tuple[int, bytes]]] = []  # one stream per level, opened when needed
    cr = CompactRange()

    def check_anchor() -> None:
        nonlocal anchor, checked, last_good
        while anchor is not None and anchor.size == cr.size:
            if cr.root() != anchor.root_hash:
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
    # The hot loop (whole-log verification is bound by it): the next checkpoint's size is kept
    # in a local and the anchor is checked only when the tree reaches it.
    next_size = -1 if anchor is None else anchor.size
    for expected, item in enumerate(leaves):
        if item.index != expected:
            raise AuditIntegrityError(f"leaf {expected} is missing", index=expected)
        if item.columns is not None:
            check_columns(item)
        lh = leaf_hash(item.leaf)
        if stored_levels is None:
            cr.push(lh)
        else:
            # Each node this leaf completes against the stored one: each level's stored nodes
            # come in the order the leaves complete them.
            for key, recomputed in cr.append(lh):
                level = key[0]
                while len(levels) <= level:
                    levels.append(iter(stored_levels(len(levels))))
                stored = next(levels[level], None)
                if stored is not None and stored[0] != key[1]:
                    stored = _realign(stored, levels[level], key)
                if stored is None:
                    continue  # nothing stored from here (or stored after this level was read)
                if stored[1] != recomputed:
                    raise AuditIntegrityError(
                        f"leaf {expected} was changed" if level == 0 else
                        f"the stored hash of {_covered(key)} was changed: proofs and tiles "
                        "made from it are wrong", index=key[1] << level)
        if expected + 1 == next_size:
            check_anchor()
            next_size = -1 if anchor is None else anchor.size
        if progress is not None:
            progress(1)
    if anchor is not None:
        raise AuditIntegrityError(
            f"the log ends after {cr.size} leaves but a checkpoint covers {anchor.size}: "
            "it was truncated",
            index=cr.size,
        )
    return VerifyReport(leaves=cr.size, checkpoint=anchors[-1], checkpoints_checked=checked)
