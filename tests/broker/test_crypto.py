"""Encryption at rest (DESIGN §6): AES-256-GCM bound to its record, keys wrapped by the KEK."""

from __future__ import annotations

import pytest

from broker.errors import DecryptionError
from broker.store import crypto


def test_round_trip() -> None:
    key = crypto.new_data_key()
    blob = crypto.encrypt(key, b"inkomen: leefloon", b"e-1")
    assert crypto.decrypt(key, blob, b"e-1") == b"inkomen: leefloon"


def test_ciphertext_does_not_contain_plaintext_and_is_randomised() -> None:
    key = crypto.new_data_key()
    a = crypto.encrypt(key, b"leefloon leefloon", b"e-1")
    b = crypto.encrypt(key, b"leefloon leefloon", b"e-1")
    assert b"leefloon" not in a
    assert a != b


def test_wrong_key_fails() -> None:
    blob = crypto.encrypt(crypto.new_data_key(), b"x", b"e-1")
    with pytest.raises(DecryptionError):
        crypto.decrypt(crypto.new_data_key(), blob, b"e-1")


def test_swapped_associated_data_fails() -> None:
    key = crypto.new_data_key()
    blob = crypto.encrypt(key, b"x", b"e-1")
    with pytest.raises(DecryptionError):
        crypto.decrypt(key, blob, b"e-2")


@pytest.mark.parametrize("position", [0, 12, -1], ids=["nonce", "ciphertext", "tag"])
def test_flipped_byte_fails(position: int) -> None:
    key = crypto.new_data_key()
    blob = bytearray(crypto.encrypt(key, b"some content", b"e-1"))
    blob[position] ^= 0x01
    with pytest.raises(DecryptionError):
        crypto.decrypt(key, bytes(blob), b"e-1")


def test_truncated_ciphertext_fails() -> None:
    with pytest.raises(DecryptionError):
        crypto.decrypt(crypto.new_data_key(), b"short", b"e-1")


def test_wrapped_data_key_is_bound_to_its_client() -> None:
    kek = crypto.KeyEncryptionKey(kid="k1", key=crypto.new_data_key())
    data_key = crypto.new_data_key()
    wrapped = kek.wrap(data_key, "c-1")
    assert kek.unwrap(wrapped, "c-1") == data_key
    with pytest.raises(DecryptionError):
        kek.unwrap(wrapped, "c-2")
    other = crypto.KeyEncryptionKey(kid="k2", key=crypto.new_data_key())
    with pytest.raises(DecryptionError):
        other.unwrap(wrapped, "c-1")


def test_kek_repr_hides_key_material() -> None:
    kek = crypto.KeyEncryptionKey(kid="k1", key=b"\x01" * 32)
    assert "\\x01" not in repr(kek) and "k1" in repr(kek)


def test_pseudonym_is_stable_per_network_and_hides_the_insz() -> None:
    a, b = b"a" * 32, b"b" * 32
    assert crypto.pseudonym(a, "85073003328") == crypto.pseudonym(a, "85073003328")
    assert crypto.pseudonym(a, "85073003328") != crypto.pseudonym(b, "85073003328")
    assert crypto.pseudonym(a, "85073003328") != crypto.pseudonym(a, "01020312345")
    assert "85073003328" not in crypto.pseudonym(a, "85073003328")
