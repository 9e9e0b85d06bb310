"""Tests for campaign.crypto: field encryption at rest, blind index, key parsing."""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from campaign.crypto import (
    BlindIndex,
    DecryptionError,
    FieldCipher,
    generate_key,
    key_id,
    parse_keys,
)

KEY_A = bytes(range(32))
KEY_B = bytes(range(100, 132))
KEY_C = bytes(range(200, 232))
NONCE = bytes(range(0xA0, 0xAC))
PLAIN = "Ҷамшед Ӯ, Хоруғ"
LOC = {"table": "subscribers", "column": "name", "row": "42"}

# Computed once with FieldCipher([KEY_A], _nonce=lambda: NONCE) and committed: if this
# changes, every stored value in every deployment becomes unreadable.
KNOWN_BLOB = bytes.fromhex(
    "01630dcd29a0a1a2a3a4a5a6a7a8a9aaab34aeac9d9577d337b2d0576727a96ef2507cfcc02c66c2"
    "bd1fdcb56a89e1518efbb7138f0aea52e89f42c8"
)


def _aad(header: bytes, table: str, column: str, row: str) -> bytes:
    """The associated data, rebuilt from the format description in crypto.py."""
    out = header
    for part in (table, column, row):
        raw = part.encode("utf-8")
        out += struct.pack(">I", len(raw)) + raw
    return out


def test_known_answer() -> None:
    cipher = FieldCipher([KEY_A], _nonce=lambda: NONCE)
    blob = cipher.encrypt(PLAIN, **LOC)
    assert blob == KNOWN_BLOB
    assert cipher.decrypt(KNOWN_BLOB, **LOC) == PLAIN


def test_known_answer_independent_of_fieldcipher() -> None:
    # Layout: version 1, key id = SHA-256(key)[:4], nonce, ciphertext+tag.
    assert KNOWN_BLOB[0] == 1
    assert KNOWN_BLOB[1:5] == hashlib.sha256(KEY_A).digest()[:4]
    assert KNOWN_BLOB[5:17] == NONCE
    assert len(KNOWN_BLOB) == 1 + 4 + 12 + len(PLAIN.encode("utf-8")) + 16
    aad = _aad(KNOWN_BLOB[:5], "subscribers", "name", "42")
    plain = AESGCM(KEY_A).decrypt(KNOWN_BLOB[5:17], KNOWN_BLOB[17:], aad)
    assert plain.decode("utf-8") == PLAIN


def test_random_nonces_differ() -> None:
    cipher = FieldCipher([KEY_A])
    one = cipher.encrypt(PLAIN, **LOC)
    two = cipher.encrypt(PLAIN, **LOC)
    assert one != two
    assert one[5:17] != two[5:17]
    assert cipher.decrypt(one, **LOC) == cipher.decrypt(two, **LOC) == PLAIN


@pytest.mark.parametrize(
    "plain",
    [
        "",
        "Ҷамшед",
        "ғ ӣ қ ӯ ҳ ҷ Ғ Ӣ Қ Ӯ Ҳ Ҷ",
        "Хорог, Горно-Бадахшанская автономная область",
        "ivan@example.org",
        "x" * 10_000,
        "nul\x00inside",
    ],
)
def test_round_trip(plain: str) -> None:
    cipher = FieldCipher([KEY_A])
    assert cipher.decrypt(cipher.encrypt(plain, **LOC), **LOC) == plain


def test_int_row_is_same_as_str_row() -> None:
    cipher = FieldCipher([KEY_A])
    blob = cipher.encrypt(PLAIN, table="subscribers", column="name", row=42)
    assert cipher.decrypt(blob, **LOC) == PLAIN


def test_accepts_bytearray_and_memoryview() -> None:
    cipher = FieldCipher([KEY_A])
    blob = cipher.encrypt(PLAIN, **LOC)
    assert cipher.decrypt(bytearray(blob), **LOC) == PLAIN
    assert cipher.decrypt(memoryview(blob), **LOC) == PLAIN


def test_wrong_key_fails_closed() -> None:
    blob = FieldCipher([KEY_A]).encrypt(PLAIN, **LOC)
    with pytest.raises(DecryptionError, match="not configured"):
        FieldCipher([KEY_B]).decrypt(blob, **LOC)


def test_wrong_key_with_forged_key_id_fails_closed() -> None:
    blob = FieldCipher([KEY_A]).encrypt(PLAIN, **LOC)
    forged = blob[:1] + key_id(KEY_B) + blob[5:]
    with pytest.raises(DecryptionError, match="authentication"):
        FieldCipher([KEY_B]).decrypt(forged, **LOC)


@pytest.mark.parametrize(
    "where",
    [
        {"table": "subscribers", "column": "name", "row": "43"},
        {"table": "subscribers", "column": "city", "row": "42"},
        {"table": "letters", "column": "name", "row": "42"},
        # length-prefixed parts: shifting characters between parts does not collide
        {"table": "subscribersn", "column": "ame", "row": "42"},
        {"table": "subscribers", "column": "name4", "row": "2"},
    ],
)
def test_wrong_row_or_column_fails(where: dict[str, str]) -> None:
    cipher = FieldCipher([KEY_A])
    blob = cipher.encrypt(PLAIN, **LOC)
    with pytest.raises(DecryptionError):
        cipher.decrypt(blob, **where)


def test_every_tampered_byte_is_detected() -> None:
    cipher = FieldCipher([KEY_A, KEY_B])
    blob = cipher.encrypt(PLAIN, **LOC)
    for i in range(len(blob)):
        tampered = bytearray(blob)
        tampered[i] ^= 0x01
        with pytest.raises(DecryptionError):
            cipher.decrypt(bytes(tampered), **LOC)


@pytest.mark.parametrize(
    "blob",
    [b"", b"\x01", b"\x01" + b"\x00" * 31, b"\x02" + b"\x00" * 40, KNOWN_BLOB[:-1]],
)
def test_malformed_blobs_fail_closed(blob: bytes) -> None:
    with pytest.raises(DecryptionError):
        FieldCipher([KEY_A]).decrypt(blob, **LOC)


def test_not_bytes_fails_closed() -> None:
    with pytest.raises(DecryptionError):
        FieldCipher([KEY_A]).decrypt("not bytes", **LOC)  # type: ignore[arg-type]


def test_error_message_leaks_nothing() -> None:
    cipher = FieldCipher([KEY_A])
    blob = cipher.encrypt("secret-value", **LOC)
    with pytest.raises(DecryptionError) as info:
        cipher.decrypt(blob, table="subscribers", column="name", row="7")
    text = str(info.value)
    assert "secret-value" not in text
    assert blob.hex() not in text
    assert KEY_A.hex() not in text


def test_rotation() -> None:
    old = FieldCipher([KEY_A])
    blob = old.encrypt(PLAIN, **LOC)
    assert not old.needs_rotation(blob)

    rotated_cipher = FieldCipher([KEY_B, KEY_A])
    assert rotated_cipher.needs_rotation(blob)
    assert rotated_cipher.decrypt(blob, **LOC) == PLAIN  # old key still decrypts

    new_blob = rotated_cipher.rotate(blob, **LOC)
    assert new_blob[1:5] == key_id(KEY_B) == rotated_cipher.current_key_id
    assert not rotated_cipher.needs_rotation(new_blob)
    assert rotated_cipher.decrypt(new_blob, **LOC) == PLAIN
    # Once the old key is retired, only the rotated value is readable.
    only_new = FieldCipher([KEY_B])
    assert only_new.decrypt(new_blob, **LOC) == PLAIN
    with pytest.raises(DecryptionError):
        only_new.decrypt(blob, **LOC)


def test_rotate_current_value_is_unchanged_but_authenticated() -> None:
    cipher = FieldCipher([KEY_A])
    blob = cipher.encrypt(PLAIN, **LOC)
    assert cipher.rotate(blob, **LOC) == blob
    with pytest.raises(DecryptionError):
        cipher.rotate(blob, table="subscribers", column="name", row="1")


def test_rotate_binds_location() -> None:
    cipher = FieldCipher([KEY_B, KEY_A])
    blob = FieldCipher([KEY_A]).encrypt(PLAIN, **LOC)
    with pytest.raises(DecryptionError):
        cipher.rotate(blob, table="subscribers", column="city", row="42")


def test_needs_rotation_with_unknown_key_is_true() -> None:
    blob = FieldCipher([KEY_C]).encrypt(PLAIN, **LOC)
    assert FieldCipher([KEY_A]).needs_rotation(blob)


def test_needs_rotation_malformed_raises() -> None:
    with pytest.raises(DecryptionError):
        FieldCipher([KEY_A]).needs_rotation(b"\x01\x02")


@pytest.mark.parametrize(
    ("keys", "error"),
    [
        ([], ValueError),
        ([b"short"], ValueError),
        ([KEY_A + b"x"], ValueError),
        ([KEY_A, KEY_A], ValueError),
        (KEY_A, TypeError),
        (["a" * 32], TypeError),
    ],
)
def test_bad_keys_refused(keys: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        FieldCipher(keys)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "where",
    [
        {"table": "", "column": "name", "row": "1"},
        {"table": "t", "column": "", "row": "1"},
        {"table": "t", "column": "name", "row": ""},
    ],
)
def test_empty_location_refused(where: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        FieldCipher([KEY_A]).encrypt(PLAIN, **where)


def test_bool_row_refused() -> None:
    with pytest.raises(TypeError):
        FieldCipher([KEY_A]).encrypt(PLAIN, table="t", column="c", row=True)


def test_bad_nonce_source_refused() -> None:
    cipher = FieldCipher([KEY_A], _nonce=lambda: b"short")
    with pytest.raises(ValueError):
        cipher.encrypt(PLAIN, **LOC)


# --------------------------------------------------------------------------- blind index


def test_blind_index_is_hmac_sha256() -> None:
    index = BlindIndex(KEY_C)
    digest = index.digest("ivan@example.org", purpose="email")
    expected = hmac.new(KEY_C, b"email\x00ivan@example.org", hashlib.sha256).digest()
    assert digest == expected
    assert len(digest) == 32


def test_blind_index_known_answer() -> None:
    # Committed value: changing the construction would orphan every stored index.
    digest = BlindIndex(bytes(32)).digest("a@b.org", purpose="email")
    assert digest.hex() == "2f17c79215a872c76dd80def635a0fbe5c284384bfa9301131681cbc0b646852"


def test_blind_index_deterministic_and_purpose_separated() -> None:
    index = BlindIndex(KEY_C)
    email = index.digest("ivan@example.org", purpose="email")
    assert email == index.digest("ivan@example.org", purpose="email")
    assert email != index.digest("ivan@example.org", purpose="email-folded")
    assert email != index.digest("ivan@example.org", purpose="ip")
    assert email != BlindIndex(KEY_A).digest("ivan@example.org", purpose="email")
    assert email != index.digest("ivan@example.or", purpose="email")


def test_blind_index_tajik_value_is_utf8() -> None:
    index = BlindIndex(KEY_C)
    expected = hmac.new(KEY_C, "name\x00Ҷамшед".encode(), hashlib.sha256).digest()
    assert index.digest("Ҷамшед", purpose="name") == expected


@pytest.mark.parametrize("purpose", ["", "email\x00x"])
def test_blind_index_bad_purpose(purpose: str) -> None:
    with pytest.raises(ValueError):
        BlindIndex(KEY_C).digest("x", purpose=purpose)


def test_blind_index_short_key_refused() -> None:
    with pytest.raises(ValueError):
        BlindIndex(b"0123456789")


# --------------------------------------------------------------------------- key parsing


def _b64(raw: bytes, *, pad: bool = True) -> str:
    text = base64.urlsafe_b64encode(raw).decode("ascii")
    return text if pad else text.rstrip("=")


def test_generate_key_parses() -> None:
    text = generate_key()
    assert len(text) == 44
    (key,) = parse_keys(text)
    assert len(key) == 32
    assert generate_key() != text


def test_parse_keys_order_and_whitespace() -> None:
    text = f" {_b64(KEY_B)} ,\n{_b64(KEY_A, pad=False)} "
    assert parse_keys(text) == (KEY_B, KEY_A)


def test_parse_keys_urlsafe_alphabet() -> None:
    raw = b"\xfb\xff" * 16  # encodes with - and _ in urlsafe base64
    encoded = _b64(raw)
    assert "-" in encoded or "_" in encoded
    assert parse_keys(encoded) == (raw,)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no encryption keys"),
        ("   ", "no encryption keys"),
        (f"{_b64(KEY_A)},", "key 2 of 2 is empty"),
        (f",{_b64(KEY_A)}", "key 1 of 2 is empty"),
        ("not base64!", "key 1 of 1 is not urlsafe base64"),
        (base64.b64encode(b"\xfb\xff" * 16).decode(), "not urlsafe base64"),
        (_b64(b"x" * 16), "key 1 of 1 decodes to 16 bytes, expected 32"),
        (_b64(b"x" * 33), "decodes to 33 bytes"),
        (f"{_b64(KEY_A)},{_b64(KEY_B)},{_b64(KEY_A)}", "key 3 of 3 repeats key 1"),
        ("A", "not valid base64"),
    ],
)
def test_parse_keys_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_keys(text)


def test_parse_keys_error_does_not_echo_key() -> None:
    secret = _b64(b"y" * 31)
    with pytest.raises(ValueError) as info:
        parse_keys(secret)
    assert secret not in str(info.value)


def test_parsed_keys_drive_a_cipher() -> None:
    old, new = generate_key(), generate_key()
    blob = FieldCipher(parse_keys(old)).encrypt(PLAIN, **LOC)
    cipher = FieldCipher(parse_keys(f"{new},{old}"))
    assert cipher.needs_rotation(blob)
    assert cipher.decrypt(cipher.rotate(blob, **LOC), **LOC) == PLAIN
