"""C2SP tlog-tiles (https://c2sp.org/tlog-tiles): tile paths and contents from stored hashes.

A tile at level ``L``, index ``N`` holds up to 256 hashes: the Merkle Tree Hashes of the subtrees
of ``256**L`` leaves numbered ``N * 256 + i``, i.e. the stored complete-subtree nodes
``(8 * L, N * 256 + i)`` (:data:`audit.merkle.NodeKey`). An entry bundle holds the leaves
``[N * 256, N * 256 + W)``, each prefixed with its big-endian uint16 length. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from audit.errors import ProofRequestError

__all__ = ["TILE_HEIGHT", "TILE_WIDTH", "TilePath", "entry_bundle", "parse_tile_path",
           "tile_path"]

TILE_HEIGHT = 8
TILE_WIDTH = 256  # tlog-tiles: "Full tiles MUST be exactly 256 hashes wide"
MAX_ENTRY = 65_535

_ELEMENT = re.compile(r"x[0-9]{3}")
_LAST = re.compile(r"[0-9]{3}")
_WIDTH = re.compile(r"[1-9][0-9]{0,2}")
_LEVEL = re.compile(r"0|[1-9][0-9]?")


@dataclass(frozen=True)
class TilePath:
    """``level`` is None for an entry bundle; ``width`` is None for a full tile."""

    level: int | None
    index: int
    width: int | None

    @property
    def count(self) -> int:
        return self.width or TILE_WIDTH

    def end(self) -> int:
        """How many leaves the log must have for this tile (or bundle) to exist."""
        scale: int = TILE_WIDTH ** (self.level or 0)
        return (self.index * TILE_WIDTH + self.count) * scale


def _index(elements: list[str]) -> int:
    # tlog-tiles: zero-padded 3-digit path elements, all but the last beginning with "x".
    if not elements or not _LAST.fullmatch(elements[-1]) \
            or not all(_ELEMENT.fullmatch(e) for e in elements[:-1]):
        raise ProofRequestError("malformed tile index")
    if len(elements) > 1 and elements[0] == "x000":
        raise ProofRequestError("tile index has a leading zero element")
    value = 0
    for element in elements:
        value = value * 1000 + int(element.lstrip("x"))
    return value


def parse_tile_path(path: str) -> TilePath:
    """Parse ``<L>/<N>[.p/<W>]`` or ``entries/<N>[.p/<W>]`` (the part after ``tile/``).
    Raises ``ProofRequestError`` for anything else."""
    main, sep, width_text = path.partition(".p/")
    width = None
    if sep:
        if not _WIDTH.fullmatch(width_text) or not 1 <= int(width_text) <= 255:
            raise ProofRequestError("malformed tile width")
        width = int(width_text)
    head, _, rest = main.partition("/")
    if head == "entries":
        return TilePath(None, _index(rest.split("/")), width)
    if not _LEVEL.fullmatch(head) or int(head) > 63:
        raise ProofRequestError("malformed tile level")
    return TilePath(int(head), _index(rest.split("/")), width)


def tile_path(tile: TilePath) -> str:
    """The inverse of :func:`parse_tile_path`."""
    digits = f"{tile.index:03d}"
    digits = "0" * (-len(digits) % 3) + digits
    groups = [digits[i:i + 3] for i in range(0, len(digits), 3)]
    index = "/".join([*("x" + g for g in groups[:-1]), groups[-1]])
    head = "entries" if tile.level is None else str(tile.level)
    return f"{head}/{index}" + (f".p/{tile.width}" if tile.width else "")


def entry_bundle(leaves: Iterable[bytes]) -> bytes:
    """tlog-tiles entry bundle: each entry prefixed with its big-endian uint16 length.
    Raises ``ProofRequestError`` for an entry longer than 65,535 bytes."""
    out = bytearray()
    for leaf in leaves:
        if len(leaf) > MAX_ENTRY:
            raise ProofRequestError("an entry is too long for an entry bundle")
        out += len(leaf).to_bytes(2, "big") + leaf
    return bytes(out)
