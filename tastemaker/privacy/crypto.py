"""Encryption at rest (AES-256-GCM) and pseudonymization (HMAC-SHA256).

Keys come from ``Settings.secret_keys`` and are never written to the database. The first key
encrypts; every configured key can decrypt, so keys rotate by putting a new key first and
re-encrypting at leisure. Each ciphertext names its key by a 4-byte fingerprint.

Pseudonyms are keyed by the *last* key in the list, the oldest one: they must stay stable for as
long as the data they index exists, so that key is retired only after a full re-pseudonymization.

>>> box = SecretBox(["k" * 32])
>>> box.decrypt(box.encrypt(b"geo=DE"))
b'geo=DE'
>>> box.pseudonym("alice") == box.pseudonym("alice") != box.pseudonym("bob")
True
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from tastemaker.errors import ConfigurationError, DecryptionError

INSECURE_DEV_KEY = "tastemaker-insecure-development-key-never-use-in-production"
_VERSION = b"\x01"
_NONCE = 12


def _derive(secret: str, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(
        secret.encode()
    )


class SecretBox:
    """Encrypts and decrypts small values, and derives pseudonyms from external ids."""

    def __init__(self, secrets: Sequence[str]) -> None:
        if not secrets:
            raise ConfigurationError(
                "no secret key configured: set TASTEMAKER_SECRET_KEYS='[\"<32+ random chars>\"]' "
                "(generate one with `tastemaker keys secret`) or run in insecure development mode"
            )
        self._ciphers: dict[bytes, AESGCM] = {}
        self._current: bytes = b""
        for i, secret in enumerate(secrets):
            key = _derive(secret, b"tastemaker/aes-gcm/v1")
            kid = hashlib.sha256(key).digest()[:4]
            self._ciphers[kid] = AESGCM(key)
            if i == 0:
                self._current = kid
        self._pseudonym_key = _derive(secrets[-1], b"tastemaker/pseudonym/v1")

    def encrypt(self, plaintext: bytes, associated: bytes = b"") -> bytes:
        """``version | key id | nonce | ciphertext+tag``; ``associated`` binds it to a context."""
        nonce = os.urandom(_NONCE)
        sealed = self._ciphers[self._current].encrypt(nonce, plaintext, associated)
        return _VERSION + self._current + nonce + sealed

    def decrypt(self, blob: bytes, associated: bytes = b"") -> bytes:
        if len(blob) < 1 + 4 + _NONCE + 16 or blob[:1] != _VERSION:
            raise DecryptionError("encrypted value is malformed")
        kid, nonce, sealed = blob[1:5], blob[5 : 5 + _NONCE], blob[5 + _NONCE :]
        cipher = self._ciphers.get(kid)
        if cipher is None:
            raise DecryptionError(
                "encrypted with a key that is not configured; add the old key to secret_keys"
            )
        try:
            return cipher.decrypt(nonce, sealed, associated)
        except InvalidTag as exc:
            raise DecryptionError("encrypted value failed authentication") from exc

    def pseudonym(self, external_id: str) -> bytes:
        """A stable 32-byte pseudonym of an external id."""
        return hmac.digest(self._pseudonym_key, external_id.encode(), "sha256")
