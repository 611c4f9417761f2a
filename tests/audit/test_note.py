"""C2SP signed-note: known-answer notes (golang/mod, C2SP spec) verify; tampered ones do not."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit.errors import KeyFormatError, NoteError, UnverifiedNoteError
from audit.keys import Ed25519Signer, Ed25519Verifier
from audit.note import (
    MAX_SIGNATURES,
    Signature,
    is_valid_key_name,
    open_note,
    parse_note,
    sign_note,
)
from tests.audit.vectors import load, note_vector

PETER = note_vector("sumdb-note-peterneumann")
TWO_SIGS = note_vector("sumdb-note-two-sigs")
C2SP_EXAMPLE = note_vector("c2sp-signed-note-example")
ED25519_VALID = [PETER, C2SP_EXAMPLE]


def _enoch() -> Ed25519Signer:
    seed = bytes.fromhex(TWO_SIGS["extra_signer"]["ed25519_seed_hex"])
    return Ed25519Signer("EnochRoot", Ed25519PrivateKey.from_private_bytes(seed))


def _text(note: str) -> str:
    return note[: note.rindex("\n\n") + 1]


def test_every_note_vector_names_its_source_and_license() -> None:
    for note in load("signed_notes.json")["notes"]:
        assert note["source"]["repo"] and note["source"]["license"], note["id"]


@pytest.mark.parametrize("vector", ED25519_VALID, ids=lambda v: v["id"])
def test_note_vector_verifies_with_its_verifier_key(vector: dict[str, str]) -> None:
    verifier = Ed25519Verifier.from_key_string(vector["vkey"])
    note = open_note(vector["note"], [verifier])
    assert note.text == _text(vector["note"])
    assert [(s.name, s.key_id) for s in note.signatures] == [(verifier.name, verifier.key_id)]
    assert verifier.key_string() == vector["vkey"]


def test_note_opens_from_utf8_bytes() -> None:
    verifier = Ed25519Verifier.from_key_string(PETER["vkey"])
    assert open_note(PETER["note"].encode("utf-8"), [verifier]).text == _text(PETER["note"])


def test_signing_with_vector_private_key_reproduces_the_vector_note() -> None:
    signer = Ed25519Signer.from_key_string(PETER["skey_test_only"])
    assert signer.verifier.key_string() == PETER["vkey"]
    assert signer.private_key_string() == PETER["skey_test_only"]
    assert sign_note(_text(PETER["note"]), [signer]) == PETER["note"]


def test_second_signer_from_zero_seed_reproduces_the_two_signature_note() -> None:
    peter = Ed25519Signer.from_key_string(PETER["skey_test_only"])
    enoch = _enoch()
    assert f"{enoch.key_id:08x}" == TWO_SIGS["extra_signer"]["key_hash"]
    assert sign_note(_text(TWO_SIGS["note"]), [peter, enoch]) == TWO_SIGS["note"]


def test_signature_by_unknown_key_is_ignored_not_trusted() -> None:
    peter = Ed25519Verifier.from_key_string(TWO_SIGS["vkey"])
    note = open_note(TWO_SIGS["note"], [peter])
    assert [s.name for s in note.signatures] == ["PeterNeumann"]
    assert [s.name for s in note.unverified] == ["EnochRoot"]
    both = open_note(TWO_SIGS["note"], [peter, _enoch().verifier])
    assert [s.name for s in both.signatures] == ["PeterNeumann", "EnochRoot"]


def test_note_rejected_when_text_changed() -> None:
    verifier = Ed25519Verifier.from_key_string(PETER["vkey"])
    tampered = PETER["note"].replace("cryptography", "blockchain")
    with pytest.raises(NoteError, match="invalid signature"):
        open_note(tampered, [verifier])


@pytest.mark.parametrize("byte", [4, 20, 67], ids=["first-sig-byte", "middle", "last"])
def test_note_rejected_when_signature_byte_changed(byte: int) -> None:
    verifier = Ed25519Verifier.from_key_string(PETER["vkey"])
    text, (sig,) = parse_note(PETER["note"])
    raw = bytearray(sig.key_id.to_bytes(4, "big") + sig.signature)
    raw[byte] ^= 0x01
    forged = Signature(sig.name, int.from_bytes(raw[:4], "big"), bytes(raw[4:]))
    with pytest.raises(NoteError, match="invalid signature"):
        open_note(text + "\n" + forged.line(), [verifier])


def test_note_rejected_when_verified_with_wrong_key() -> None:
    impostor = Ed25519Signer.generate("PeterNeumann").verifier  # same name, other key
    with pytest.raises(UnverifiedNoteError):
        open_note(PETER["note"], [impostor])


def test_note_rejected_when_same_key_under_other_name() -> None:
    real = Ed25519Verifier.from_key_string(PETER["vkey"])
    renamed = Ed25519Verifier("PeterNeuman", real.public_key)
    with pytest.raises(UnverifiedNoteError):
        open_note(PETER["note"], [renamed])


def test_note_rejected_when_no_verifiers_are_known() -> None:
    with pytest.raises(UnverifiedNoteError) as info:
        open_note(PETER["note"], [])
    assert info.value.code == "audit_note_unverified"


def test_note_rejected_when_a_repeated_signature_by_known_key_is_bad() -> None:
    signer = Ed25519Signer.generate("log.example/a")
    note = sign_note("hello\n", [signer])
    good_line = note.split("\n\n", 1)[1]
    _, (sig,) = parse_note(note)
    bad = Signature(sig.name, sig.key_id, bytes(64)).line()
    assert len(open_note(note + good_line, [signer.verifier]).signatures) == 1
    with pytest.raises(NoteError):
        open_note(note + bad, [signer.verifier])


@pytest.mark.parametrize(
    "vector",
    [
        note_vector("c2sp-signed-note-intro"),
        note_vector("c2sp-checkpoint-example"),
        note_vector("c2sp-cosigned-checkpoint-example"),
        note_vector("ct-rome-2024h1-checkpoint"),
    ],
    ids=lambda v: v["id"],
)
def test_note_without_published_ed25519_key_parses_but_does_not_open(
    vector: dict[str, str],
) -> None:
    text, sigs = parse_note(vector["note"])
    assert text == _text(vector["note"])
    assert sigs
    with pytest.raises(UnverifiedNoteError):
        open_note(vector["note"], [Ed25519Signer.generate(sigs[0].name).verifier])


def test_cosignature_line_keeps_its_72_byte_body() -> None:
    _, sigs = parse_note(note_vector("c2sp-cosigned-checkpoint-example")["note"])
    assert [len(s.signature) for s in sigs] == [64, 72]


SIG = PETER["note"].rstrip("\n").rsplit("\n", 1)[1]


@pytest.mark.parametrize(
    "note",
    [
        pytest.param("hello\n" + SIG + "\n", id="no-blank-line"),
        pytest.param("hello\n\n" + SIG, id="no-final-newline"),
        pytest.param("hello\n\n", id="no-signatures"),
        pytest.param("hello\n\n\n" + SIG + "\n", id="extra-blank-line-moves-into-signed-text"),
        pytest.param("hello\n\n" + SIG.replace("\u2014", "-") + "\n", id="hyphen-not-em-dash"),
        pytest.param("hello\n\n" + SIG.replace(" ", "  ", 1) + "\n", id="double-space"),
        pytest.param("hello\n\n" + SIG + "=\n", id="bad-padding"),
        pytest.param("hello\n\n" + SIG[:-2] + "N=\n", id="non-canonical-base64"),
        pytest.param("hello\n\n\u2014 PeterNeumann AAAAAA==\n", id="signature-under-5-bytes"),
        pytest.param("hello\n\n\u2014 Peter+Neumann AAAAAAA=\n", id="plus-in-name"),
        pytest.param("hello\n\n\u2014  AAAAAAA=\n", id="empty-name"),
        pytest.param("hel\tlo\n\n" + SIG + "\n", id="tab-control-char"),
        pytest.param("hello\r\n\n" + SIG + "\n", id="carriage-return"),
        pytest.param("hello\ud800\n\n" + SIG + "\n", id="lone-surrogate"),
    ],
)
def test_note_rejected_when_malformed(note: str) -> None:
    verifier = Ed25519Verifier.from_key_string(PETER["vkey"])
    with pytest.raises(NoteError) as info:
        open_note(note, [verifier])
    assert not isinstance(info.value, UnverifiedNoteError)


def test_note_rejected_when_bytes_are_not_utf8() -> None:
    with pytest.raises(NoteError, match="UTF-8"):
        parse_note(b"hello \xff\n\n" + SIG.encode() + b"\n")


def test_note_rejected_when_it_has_too_many_signatures() -> None:
    signer = Ed25519Signer.generate("log.example/a")
    note = sign_note("hello\n", [signer])
    sig_line = note.split("\n\n", 1)[1]
    assert open_note(note + sig_line * 15, [signer.verifier])  # 16 MUST be accepted
    with pytest.raises(NoteError, match="too many"):
        open_note(note + sig_line * MAX_SIGNATURES, [signer.verifier])


def test_note_text_may_contain_blank_lines() -> None:
    signer = Ed25519Signer.generate("log.example/a")
    text = "para one\n\npara two\n\n\u2014 not a signature line\n"
    assert open_note(sign_note(text, [signer]), [signer.verifier]).text == text


@pytest.mark.parametrize(
    "text", ["no newline", "tab\there\n", "cr\r\n"], ids=["no-newline", "tab", "cr"]
)
def test_sign_note_rejected_when_text_not_newline_terminated_clean_utf8(text: str) -> None:
    with pytest.raises(NoteError):
        sign_note(text, [Ed25519Signer.generate("a")])


def test_sign_note_rejected_without_signers() -> None:
    with pytest.raises(NoteError):
        sign_note("hello\n", [])


def test_open_note_rejected_when_two_verifiers_share_name_and_key_id() -> None:
    verifier = Ed25519Verifier.from_key_string(PETER["vkey"])
    with pytest.raises(KeyFormatError):
        open_note(PETER["note"], [verifier, Ed25519Verifier(verifier.name, verifier.public_key)])


# --- key strings ---------------------------------------------------------------------------

VKEY = PETER["vkey"]
NAME, HEX_ID, KEY64 = VKEY.split("+", 2)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


NOT_ED25519 = _b64(bytes([2]) + bytes(32))
SHORT_KEY = _b64(bytes([1]) + bytes(31))


@pytest.mark.parametrize(
    "vkey",
    [
        pytest.param(f"{NAME}+{HEX_ID}", id="no-key"),
        pytest.param(f"{NAME}+c74f20a4+{KEY64}", id="wrong-key-id"),
        pytest.param(f"{NAME}+c74f20a+{KEY64}", id="short-key-id"),
        pytest.param(f"{NAME}+0xc74f20+{KEY64}", id="prefixed-key-id"),
        pytest.param(f"Other+{HEX_ID}+{KEY64}", id="other-name"),
        pytest.param(f"+{HEX_ID}+{KEY64}", id="empty-name"),
        pytest.param(f"{NAME}+{HEX_ID}+{KEY64[:-1]}", id="truncated-base64"),
        pytest.param(f"{NAME}+{HEX_ID}+{NOT_ED25519}", id="not-ed25519"),
        pytest.param(f"{NAME}+{HEX_ID}+{SHORT_KEY}", id="short-key"),
    ],
)
def test_verifier_key_rejected_when_malformed(vkey: str) -> None:
    with pytest.raises(KeyFormatError) as info:
        Ed25519Verifier.from_key_string(vkey)
    assert info.value.code == "audit_key_invalid"


@pytest.mark.parametrize(
    "skey",
    [
        pytest.param(PETER["skey_test_only"].replace("PRIVATE+KEY", "PUBLIC+KEY"), id="prefix"),
        pytest.param(PETER["skey_test_only"].replace("c74f20a3", "c74f20a4"), id="wrong-key-id"),
        pytest.param(PETER["skey_test_only"].replace("Neumann", "Neuman"), id="other-name"),
        pytest.param(PETER["skey_test_only"][:-4], id="truncated"),
        pytest.param(PETER["vkey"], id="public-key"),
    ],
)
def test_signer_key_rejected_when_malformed(skey: str) -> None:
    with pytest.raises(KeyFormatError):
        Ed25519Signer.from_key_string(skey)


def test_signer_repr_does_not_leak_the_private_key() -> None:
    signer = Ed25519Signer.from_key_string(PETER["skey_test_only"])
    assert PETER["skey_test_only"].rsplit("+", 1)[1] not in repr(signer)


def test_generated_signer_round_trips_through_its_key_strings() -> None:
    signer = Ed25519Signer.generate("gbo.example/audit")
    again = Ed25519Signer.from_key_string(signer.private_key_string())
    assert again.verifier == signer.verifier
    vkey = signer.verifier.key_string()
    assert Ed25519Verifier.from_key_string(vkey) == signer.verifier


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("example.com/log", True),
        ("PeterNeumann", True),
        ("", False),
        ("a b", False),
        ("a+b", False),
        ("a\u00a0b", False),
        ("a\u3000b", False),
        ("a\nb", False),
    ],
)
def test_key_name_validity_follows_signed_note(name: str, valid: bool) -> None:
    assert is_valid_key_name(name) is valid
    if not valid:
        with pytest.raises(KeyFormatError):
            Ed25519Signer.generate(name)
