"""Encryption at rest and pseudonyms."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tastemaker.errors import ConfigurationError, DecryptionError
from tastemaker.privacy.crypto import SecretBox

K1 = "first-secret-key-aaaaaaaaaaaaaaaaaaaaaaaa"
K2 = "second-secret-key-bbbbbbbbbbbbbbbbbbbbbbb"


@given(st.binary(max_size=2000), st.binary(max_size=40))
def test_round_trip(plain: bytes, aad: bytes) -> None:
    box = SecretBox([K1])
    blob = box.encrypt(plain, aad)
    assert len(plain) < 8 or plain not in blob
    assert box.decrypt(blob, aad) == plain


def test_nonces_differ() -> None:
    box = SecretBox([K1])
    assert box.encrypt(b"same") != box.encrypt(b"same")


def test_tampering_and_wrong_context_fail() -> None:
    box = SecretBox([K1])
    blob = bytearray(box.encrypt(b"secret", b"ctx"))
    with pytest.raises(DecryptionError):
        box.decrypt(bytes(blob), b"other")
    blob[-1] ^= 1
    with pytest.raises(DecryptionError):
        box.decrypt(bytes(blob), b"ctx")
    with pytest.raises(DecryptionError):
        box.decrypt(b"short")


def test_rotation_keeps_old_data_readable() -> None:
    old = SecretBox([K1]).encrypt(b"v")
    rotated = SecretBox([K2, K1])
    assert rotated.decrypt(old) == b"v"
    with pytest.raises(DecryptionError):  # new data uses the new key, unknown to the old box
        SecretBox([K1]).decrypt(rotated.encrypt(b"w"))
    with pytest.raises(DecryptionError, match="not configured"):
        SecretBox([K2]).decrypt(old)


def test_pseudonyms_are_stable_across_rotation() -> None:
    assert SecretBox([K1]).pseudonym("alice") == SecretBox([K2, K1]).pseudonym("alice")
    assert SecretBox([K1]).pseudonym("alice") != SecretBox([K2]).pseudonym("alice")


def test_no_keys() -> None:
    with pytest.raises(ConfigurationError):
        SecretBox([])
