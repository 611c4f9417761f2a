"""C2SP tlog-checkpoint: strict body format, signing, and opening real checkpoints."""

from __future__ import annotations

import base64

import pytest

from audit.checkpoint import (
    Checkpoint,
    format_checkpoint,
    open_checkpoint,
    parse_checkpoint,
    sign_checkpoint,
)
from audit.errors import CheckpointError, NoteError, UnverifiedNoteError
from audit.keys import Ed25519Signer
from audit.merkle import EMPTY_ROOT, leaf_hash
from audit.note import open_note, sign_note
from tests.audit.rfc6962_note import RFC6962NoteVerifier
from tests.audit.vectors import note_vector

ROME = note_vector("ct-rome-2024h1-checkpoint")
C2SP = note_vector("c2sp-checkpoint-example")
COSIGNED = note_vector("c2sp-cosigned-checkpoint-example")
ROOT = leaf_hash(b"root")
ROOT64 = base64.b64encode(ROOT).decode()
ORIGIN = "gbo.example/audit"


def _body(note: str) -> str:
    return note[: note.rindex("\n\n") + 1]


def test_real_ct_checkpoint_parses_and_verifies_with_its_log_key() -> None:
    verifier = RFC6962NoteVerifier.from_key_string(ROME["vkey"])
    checkpoint = open_checkpoint(ROME["note"], verifier)
    assert checkpoint.origin == "rome.ct.filippo.io/2024h1"
    assert checkpoint.size == 115474666
    assert checkpoint.root_hash == base64.b64decode("2q1K6aiIJR+F7TyhiWOghoWOjY0/3dVBLsBbAvB4xCw=")
    assert checkpoint.extensions == ()


def test_real_ct_checkpoint_rejected_when_size_changed() -> None:
    verifier = RFC6962NoteVerifier.from_key_string(ROME["vkey"])
    with pytest.raises(NoteError, match="invalid signature"):
        open_checkpoint(ROME["note"].replace("115474666", "115474667"), verifier)


def test_spec_example_checkpoint_body_parses() -> None:
    checkpoint = parse_checkpoint(_body(C2SP["note"]))
    assert (checkpoint.origin, checkpoint.size) == ("example.com/behind-the-sofa", 20852163)
    assert format_checkpoint(checkpoint) == _body(C2SP["note"])


def test_cosigned_checkpoint_has_the_same_body_as_the_plain_one() -> None:
    assert _body(COSIGNED["note"]) == _body(C2SP["note"])


def test_signed_checkpoint_opens_with_the_log_verifier() -> None:
    signer = Ed25519Signer.generate(ORIGIN)
    note = sign_checkpoint(ORIGIN, 42, ROOT, signer)
    assert note.startswith(f"{ORIGIN}\n42\n{ROOT64}\n\n\u2014 {ORIGIN} ")
    assert open_checkpoint(note, signer.verifier) == Checkpoint(ORIGIN, 42, ROOT)


def test_checkpoint_with_extension_lines_round_trips() -> None:
    signer = Ed25519Signer.generate(ORIGIN)
    note = sign_checkpoint(ORIGIN, 0, EMPTY_ROOT, signer, extensions=["ext one", "two"])
    checkpoint = open_checkpoint(note, signer.verifier)
    assert checkpoint.extensions == ("ext one", "two")
    assert checkpoint.size == 0


def test_checkpoint_opens_when_a_witness_cosigned_it() -> None:
    log, witness = Ed25519Signer.generate(ORIGIN), Ed25519Signer.generate("witness.example/w")
    note = sign_note(format_checkpoint(Checkpoint(ORIGIN, 7, ROOT)), [log, witness])
    assert open_checkpoint(note, log.verifier).size == 7


def test_checkpoint_rejected_when_signed_by_another_key() -> None:
    note = sign_checkpoint(ORIGIN, 42, ROOT, Ed25519Signer.generate(ORIGIN))
    with pytest.raises(UnverifiedNoteError):
        open_checkpoint(note, Ed25519Signer.generate(ORIGIN).verifier)


def test_checkpoint_rejected_when_tree_size_tampered() -> None:
    signer = Ed25519Signer.generate(ORIGIN)
    note = sign_checkpoint(ORIGIN, 42, ROOT, signer)
    with pytest.raises(NoteError):
        open_checkpoint(note.replace("\n42\n", "\n43\n"), signer.verifier)


def test_checkpoint_rejected_when_origin_is_not_the_key_name() -> None:
    signer = Ed25519Signer.generate(ORIGIN)
    note = sign_note(format_checkpoint(Checkpoint("other.example/log", 1, ROOT)), [signer])
    assert open_note(note, [signer.verifier])  # the signature itself is fine
    with pytest.raises(CheckpointError, match="origin"):
        open_checkpoint(note, signer.verifier)


def test_sign_checkpoint_rejected_when_origin_is_not_the_key_name() -> None:
    with pytest.raises(CheckpointError):
        sign_checkpoint("other.example/log", 1, ROOT, Ed25519Signer.generate(ORIGIN))


def test_signed_note_that_is_not_a_checkpoint_is_rejected() -> None:
    signer = Ed25519Signer.generate(ORIGIN)
    with pytest.raises(CheckpointError):
        open_checkpoint(sign_note("just a message\n", [signer]), signer.verifier)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(f"o\n1\n{ROOT64}", id="no-final-newline"),
        pytest.param("o\n1\n", id="two-lines"),
        pytest.param(f"\n1\n{ROOT64}\n", id="empty-origin"),
        pytest.param(f"o\n01\n{ROOT64}\n", id="leading-zero"),
        pytest.param(f"o\n00\n{ROOT64}\n", id="double-zero"),
        pytest.param(f"o\n+1\n{ROOT64}\n", id="plus-sign"),
        pytest.param(f"o\n-1\n{ROOT64}\n", id="negative"),
        pytest.param(f"o\n 1\n{ROOT64}\n", id="leading-space"),
        pytest.param(f"o\n1 \n{ROOT64}\n", id="trailing-space"),
        pytest.param(f"o\n1_000\n{ROOT64}\n", id="underscore"),
        pytest.param(f"o\n\uff11\n{ROOT64}\n", id="fullwidth-digit"),
        pytest.param(f"o\n\n{ROOT64}\n", id="empty-size"),
        pytest.param(f"o\n{2**64}\n{ROOT64}\n", id="size-2-pow-64"),
        pytest.param("o\n1\n" + base64.b64encode(ROOT[:31]).decode() + "\n", id="root-31-bytes"),
        pytest.param("o\n1\n" + ROOT64.rstrip("=") + "\n", id="root-unpadded"),
        pytest.param("o\n1\n" + ROOT64[:-2] + "9=\n", id="root-non-canonical"),
        pytest.param("o\n1\n" + ROOT.hex() + "\n", id="root-hex"),
        pytest.param(f"o\n1\n{ROOT64}\n\next\n", id="empty-extension-line"),
        pytest.param(f"o\n1\n{ROOT64}\r\n", id="carriage-return"),
    ],
)
def test_checkpoint_body_rejected_when_not_strictly_formatted(text: str) -> None:
    with pytest.raises(CheckpointError) as info:
        parse_checkpoint(text)
    assert info.value.code == "audit_checkpoint_invalid"


def test_largest_uint64_tree_size_is_accepted() -> None:
    assert parse_checkpoint(f"o\n{2**64 - 1}\n{ROOT64}\n").size == 2**64 - 1


@pytest.mark.parametrize(
    ("origin", "size", "root", "extensions"),
    [
        ("", 1, ROOT, ()),
        ("a\nb", 1, ROOT, ()),
        ("o", -1, ROOT, ()),
        ("o", True, ROOT, ()),
        ("o", 1, ROOT[:16], ()),
        ("o", 1, ROOT, ("",)),
        ("o", 1, ROOT, ("two\nlines",)),
    ],
    ids=["empty-origin", "newline-origin", "negative", "bool", "short-root", "empty-ext", "nl-ext"],
)
def test_checkpoint_rejected_when_fields_invalid(
    origin: str, size: int, root: bytes, extensions: tuple[str, ...]
) -> None:
    with pytest.raises(CheckpointError):
        Checkpoint(origin, size, root, extensions)
