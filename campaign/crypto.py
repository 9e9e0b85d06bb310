"""Encryption of personal fields at rest, and keyed blind indexes.

Pure module: no Flask, no database. The settings provide ``DATA_KEYS`` (comma-separated
urlsafe-base64 32-byte keys, newest first) and ``INDEX_KEY`` (never rotated); see
``parse_keys``.

Ciphertext format (version 1)::

    +---------+-----------+-----------+----------------------+
    | version | key id    | nonce     | ciphertext + GCM tag |
    | 1 byte  | 4 bytes   | 12 bytes  | len(plaintext) + 16  |
    +---------+-----------+-----------+----------------------+

* ``version`` is ``0x01``.
* ``key id`` is the first 4 bytes of SHA-256 of the raw key. It only selects the key; it is
  not a secret and says nothing about the key.
* AES-256-GCM with a random 96-bit nonce. The associated data binds the header (version and
  key id) and the location of the value (table, column, row id), so a ciphertext copied to
  another row or column, or re-labelled with another key id, fails to decrypt.

The associated data is the header followed by three length-prefixed UTF-8 strings::

    aad = version || key_id || u32be(len(table)) || table || u32be(len(column)) || column
                            || u32be(len(row)) || row

Decryption fails closed: anything that is not an authentic ciphertext for that exact location
raises ``DecryptionError``; it never returns the blob or partial data.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable, Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = [
    "FORMAT_VERSION",
    "BlindIndex",
    "DecryptionError",
    "FieldCipher",
    "generate_key",
    "key_id",
    "parse_keys",
]

FORMAT_VERSION = 1
KEY_SIZE = 32
KEY_ID_SIZE = 4
NONCE_SIZE = 12
TAG_SIZE = 16
_HEADER_SIZE = 1 + KEY_ID_SIZE
_MIN_BLOB_SIZE = _HEADER_SIZE + NONCE_SIZE + TAG_SIZE

Blob = bytes | bytearray | memoryview
RowId = str | int


class DecryptionError(Exception):
    """A stored value could not be authenticated and decrypted.

    The message never contains key material, plaintext or the ciphertext itself.
    """


def key_id(key: bytes) -> bytes:
    """The 4-byte identifier of a key: the first 4 bytes of SHA-256(key)."""
    return hashlib.sha256(key).digest()[:KEY_ID_SIZE]


def _check_key(key: bytes, what: str) -> bytes:
    if not isinstance(key, bytes | bytearray):
        raise TypeError(f"{what} must be bytes")
    if len(key) != KEY_SIZE:
        raise ValueError(f"{what} must be {KEY_SIZE} bytes, got {len(key)}")
    return bytes(key)


def _part(name: str, value: str) -> bytes:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str")
    if not value:
        raise ValueError(f"{name} must not be empty")
    raw = value.encode("utf-8")
    return len(raw).to_bytes(4, "big") + raw


@functools.lru_cache(maxsize=256)
def _prefix(table: str, column: str) -> bytes:
    """The (table, column) part of a location: the same few pairs over and over."""
    return _part("table", table) + _part("column", column)


def _location(table: str, column: str, row: RowId) -> bytes:
    """Length-prefixed encoding of (table, column, row): unambiguous for any strings."""
    if isinstance(row, bool) or not isinstance(row, str | int):
        raise TypeError("row must be a str or an int")
    try:
        prefix = _prefix(table, column)
    except TypeError:  # unhashable: not a str either
        raise TypeError("table and column must be str") from None
    return prefix + _part("row", str(row))


class FieldCipher:
    """AES-256-GCM encryption of one field value, bound to its table, column and row.

    ``keys`` are raw 32-byte keys, newest first: new values are encrypted under ``keys[0]``;
    any of the keys decrypts. ``_nonce`` exists for known-answer tests only.
    """

    def __init__(
        self,
        keys: Sequence[bytes],
        *,
        _nonce: Callable[[], bytes] | None = None,
    ) -> None:
        if isinstance(keys, bytes | bytearray | str):
            raise TypeError("keys must be a sequence of keys, newest first, not a single key")
        checked = [_check_key(k, f"key {i + 1}") for i, k in enumerate(keys)]
        if not checked:
            raise ValueError("at least one key is required")
        if len(set(checked)) != len(checked):
            raise ValueError("the same key is listed twice")
        # Several keys could in theory share a 4-byte id: keep them all and try each.
        self._by_id: dict[bytes, list[AESGCM]] = {}
        for k in checked:
            self._by_id.setdefault(key_id(k), []).append(AESGCM(k))
        self._current_id = key_id(checked[0])
        self._header = bytes([FORMAT_VERSION]) + self._current_id
        self._current = AESGCM(checked[0])
        self._nonce = _nonce if _nonce is not None else _random_nonce

    @property
    def current_key_id(self) -> bytes:
        """The key id new ciphertexts are written under."""
        return self._current_id

    def encrypt(self, plaintext: str, *, table: str, column: str, row: RowId) -> bytes:
        """Encrypt ``plaintext`` for the given location under the newest key."""
        if not isinstance(plaintext, str):
            raise TypeError("plaintext must be a str")
        nonce = self._nonce()
        if not isinstance(nonce, bytes) or len(nonce) != NONCE_SIZE:
            raise ValueError(f"nonce must be {NONCE_SIZE} bytes")
        header = self._header
        aad = header + _location(table, column, row)
        sealed = self._current.encrypt(nonce, plaintext.encode("utf-8"), aad)
        return header + nonce + sealed

    def decrypt(self, blob: Blob, *, table: str, column: str, row: RowId) -> str:
        """Authenticate and decrypt a value stored at the given location.

        Raises ``DecryptionError`` on any failure: malformed blob, unknown version, unknown
        key, wrong location, tampering.
        """
        location = _location(table, column, row)
        data = _as_bytes(blob)
        kid = self._parse_header(data)
        candidates = self._by_id.get(kid)
        if not candidates:
            raise DecryptionError(
                f"{table}.{column}: value is under a key that is not configured "
                f"(key id {kid.hex()})"
            )
        header = data[:_HEADER_SIZE]
        nonce = data[_HEADER_SIZE : _HEADER_SIZE + NONCE_SIZE]
        sealed = data[_HEADER_SIZE + NONCE_SIZE :]
        aad = header + location
        for aead in candidates:
            try:
                plain = aead.decrypt(nonce, sealed, aad)
            except InvalidTag:
                continue
            try:
                return plain.decode("utf-8")
            except UnicodeDecodeError:  # authentic but not UTF-8: not written by us
                break
        raise DecryptionError(
            f"{table}.{column}: value failed authentication "
            "(wrong key, wrong row or column, or tampered)"
        )

    def needs_rotation(self, blob: Blob) -> bool:
        """True when the value is not under the newest key (malformed blobs raise)."""
        return self._parse_header(_as_bytes(blob)) != self._current_id

    def rotate(self, blob: Blob, *, table: str, column: str, row: RowId) -> bytes:
        """Return the value re-encrypted under the newest key.

        The value is always authenticated first; a value already under the newest key is
        returned unchanged (no needless rewrite).
        """
        plaintext = self.decrypt(blob, table=table, column=column, row=row)
        if not self.needs_rotation(blob):
            return _as_bytes(blob)
        return self.encrypt(plaintext, table=table, column=column, row=row)

    @staticmethod
    def _parse_header(data: bytes) -> bytes:
        if len(data) < _MIN_BLOB_SIZE:
            raise DecryptionError("value is too short to be a ciphertext")
        if data[0] != FORMAT_VERSION:
            raise DecryptionError(f"unknown ciphertext version {data[0]}")
        return data[1:_HEADER_SIZE]


def _random_nonce() -> bytes:
    return secrets.token_bytes(NONCE_SIZE)


def _as_bytes(blob: Blob) -> bytes:
    if not isinstance(blob, bytes | bytearray | memoryview):
        raise DecryptionError("value is not bytes")
    return bytes(blob)


class BlindIndex:
    """Keyed, deterministic digests for looking rows up without decrypting them.

    ``digest(value, purpose=...)`` = HMAC-SHA256(key, purpose + "\\x00" + value). The purpose
    separates index families ("email", "email-folded", "ip", ...) so that equal inputs give
    unrelated digests in different columns. Callers normalise ``value`` first.
    """

    def __init__(self, key: bytes) -> None:
        if not isinstance(key, bytes | bytearray):
            raise TypeError("index key must be bytes")
        if len(key) < KEY_SIZE:
            raise ValueError(f"index key must be at least {KEY_SIZE} bytes, got {len(key)}")
        self._key = bytes(key)

    def digest(self, value: str, *, purpose: str) -> bytes:
        """32-byte HMAC-SHA256 of ``purpose + "\\x00" + value``."""
        if not isinstance(value, str) or not isinstance(purpose, str):
            raise TypeError("value and purpose must be str")
        if not purpose or "\x00" in purpose:
            raise ValueError("purpose must be a non-empty string without NUL")
        message = (purpose + "\x00" + value).encode("utf-8")
        return hmac.digest(self._key, message, "sha256")  # one call into OpenSSL


_B64URL = re.compile(r"[A-Za-z0-9_-]+={0,2}")


def parse_keys(text: str) -> tuple[bytes, ...]:
    """Parse ``DATA_KEYS``: comma-separated urlsafe-base64 32-byte keys, newest first.

    Padding is optional; whitespace around each key is ignored. Errors name the position of
    the bad key, never its text (settings errors end up in logs).
    """
    if not isinstance(text, str):
        raise TypeError("keys must be given as a str")
    if not text.strip():
        raise ValueError("no encryption keys given (expected comma-separated base64 keys)")
    parts = [p.strip() for p in text.split(",")]
    count = len(parts)
    keys: list[bytes] = []
    for i, part in enumerate(parts, start=1):
        where = f"key {i} of {count}"
        if not part:
            raise ValueError(f"{where} is empty (stray comma?)")
        if not _B64URL.fullmatch(part):
            raise ValueError(
                f"{where} is not urlsafe base64 (only A-Z a-z 0-9 - _ and = padding allowed)"
            )
        unpadded = part.rstrip("=")
        try:
            raw = base64.urlsafe_b64decode(unpadded + "=" * (-len(unpadded) % 4))
        except (binascii.Error, ValueError):
            raise ValueError(f"{where} is not valid base64") from None
        if len(raw) != KEY_SIZE:
            raise ValueError(f"{where} decodes to {len(raw)} bytes, expected {KEY_SIZE}")
        if raw in keys:
            raise ValueError(f"{where} repeats key {keys.index(raw) + 1}")
        keys.append(raw)
    return tuple(keys)


def generate_key() -> str:
    """A new random 32-byte key as urlsafe base64 (44 characters, with padding)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(KEY_SIZE)).decode("ascii")
