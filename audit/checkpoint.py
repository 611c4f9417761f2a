"""C2SP transparency log checkpoints (https://c2sp.org/tlog-checkpoint) in signed notes.

The note text is the origin line, the decimal tree size, the base64 RFC 6962 root hash, and
optional non-empty extension lines, each ending in a newline.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from dataclasses import dataclass

from audit.errors import CheckpointError
from audit.merkle import HASH_SIZE, MAX_TREE_SIZE
from audit.note import NoteSigner, NoteVerifier, b64decode_strict, open_note, sign_note

__all__ = [
    "Checkpoint",
    "format_checkpoint",
    "open_checkpoint",
    "parse_checkpoint",
    "sign_checkpoint",
]

# tlog-checkpoint "Note text" 2: ASCII decimal, no leading zeroes unless the tree is empty.
_SIZE = re.compile(r"0|[1-9][0-9]*", re.ASCII)


def _check_line(what: str, line: str) -> None:
    # tlog-checkpoint "Note text": lines are non-empty; signed-note forbids control characters.
    if not line or any(ord(ch) < 0x20 for ch in line):
        raise CheckpointError(f"{what} must be a non-empty line without control characters")


@dataclass(frozen=True)
class Checkpoint:
    """A log's commitment to its tree of ``size`` leaves with root ``root_hash``.

    Raises ``CheckpointError`` on construction if any field breaks tlog-checkpoint.
    """

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # tlog-checkpoint "Note text" 1: the origin MUST be non-empty.
        _check_line("origin", self.origin)
        if isinstance(self.size, bool) or not isinstance(self.size, int):
            raise CheckpointError("size must be an int")
        if not 0 <= self.size < MAX_TREE_SIZE:
            raise CheckpointError("size must be in [0, 2**64)")
        # tlog-checkpoint "Note text" 3: the RFC 6962 (SHA-256) root hash.
        if not isinstance(self.root_hash, bytes) or len(self.root_hash) != HASH_SIZE:
            raise CheckpointError(f"root hash must be {HASH_SIZE} bytes")
        # tlog-checkpoint "Note text" 4: extension lines, if any, MUST be non-empty.
        for ext in self.extensions:
            _check_line("extension line", ext)


def format_checkpoint(checkpoint: Checkpoint) -> str:
    """The checkpoint note text (the signed body), ending in a newline."""
    lines = [
        checkpoint.origin,
        str(checkpoint.size),
        base64.b64encode(checkpoint.root_hash).decode("ascii"),
        *checkpoint.extensions,
    ]
    return "".join(line + "\n" for line in lines)


def parse_checkpoint(text: str) -> Checkpoint:
    """Parse a checkpoint note text strictly.

    Raises ``CheckpointError`` unless ``text`` is at least three non-empty newline-terminated
    lines: origin, size (no sign, no leading zeroes, below 2**64), canonical base64 of a
    32-byte root hash, then extension lines.
    """
    if not text.endswith("\n"):
        raise CheckpointError("checkpoint text must end with a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise CheckpointError("checkpoint needs origin, size and root hash lines")
    origin, size_line, root_line, *extensions = lines
    if not _SIZE.fullmatch(size_line):
        raise CheckpointError("tree size is not a canonical decimal")
    try:
        root = b64decode_strict(root_line)
    except ValueError:
        raise CheckpointError("root hash is not canonical base64") from None
    return Checkpoint(origin, int(size_line), root, tuple(extensions))


def sign_checkpoint(
    origin: str,
    size: int,
    root: bytes,
    signer: NoteSigner,
    *,
    extensions: Sequence[str] = (),
) -> str:
    """A signed note of the checkpoint ``(origin, size, root)`` by the log key ``signer``.

    Raises ``CheckpointError`` for invalid fields or if ``origin`` is not the signer's key name
    (tlog-checkpoint: the log's key name SHOULD match the origin; we require it).
    """
    if origin != signer.name:
        raise CheckpointError("origin must equal the log key's name")
    checkpoint = Checkpoint(origin, size, root, tuple(extensions))
    return sign_note(format_checkpoint(checkpoint), [signer])


def open_checkpoint(note_text: str | bytes, verifier: NoteVerifier) -> Checkpoint:
    """Verify a signed checkpoint with the log's ``verifier`` and parse its body.

    Other signatures (witnesses, rotated keys) are ignored. Raises ``NoteError`` /
    ``UnverifiedNoteError`` if the log's signature is bad or missing, and ``CheckpointError``
    if the body is malformed or its origin is not the verifier's key name.
    """
    note = open_note(note_text, [verifier])
    checkpoint = parse_checkpoint(note.text)
    if checkpoint.origin != verifier.name:
        raise CheckpointError("checkpoint origin does not match the log key name")
    return checkpoint
