"""Tests for bot.security.fields: encrypted identifier columns and blind indexes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.security.envelope import IntegrityError, UnknownKeyError
from bot.security.fields import FieldCipher, FieldDecryptError, normalize_digits, normalize_text
from bot.security.keys import KeyRing

TOKEN_RE = re.compile(r"^v1:[A-Za-z0-9._-]{1,64}:[A-Za-z0-9_-]+$")


@pytest.fixture(scope="module")
def ring() -> KeyRing:
    return KeyRing.generate()


@pytest.fixture(scope="module")
def cipher(ring: KeyRing) -> FieldCipher:
    return FieldCipher(ring)


@settings(max_examples=200, deadline=None)
@given(value=st.text(max_size=200))
def test_round_trip_any_text(cipher: FieldCipher, value: str) -> None:
    token = cipher.encrypt(value, purpose="case.patient_name")
    assert TOKEN_RE.fullmatch(token)
    assert cipher.decrypt(token, purpose="case.patient_name") == value


@pytest.mark.parametrize(
    "value", ["", "Ramesh Kumar", "रमेश कुमार", "রমেশ", "98765 43210", "12-3456-7890-1234"]
)
def test_round_trip_examples_and_no_plaintext_in_token(cipher: FieldCipher, value: str) -> None:
    token = cipher.encrypt(value, purpose="case.patient_name", context="case:42")
    assert cipher.decrypt(token, purpose="case.patient_name", context="case:42") == value
    if value:
        assert value not in token
    assert cipher.encrypt(value, purpose="case.patient_name") != cipher.encrypt(
        value, purpose="case.patient_name"
    )


def test_value_cannot_move_between_columns_or_rows(cipher: FieldCipher) -> None:
    token = cipher.encrypt("Sita Devi", purpose="case.patient_name", context="case:1")
    with pytest.raises(FieldDecryptError):
        cipher.decrypt(token, purpose="case.patient_phone", context="case:1")
    with pytest.raises(FieldDecryptError):
        cipher.decrypt(token, purpose="case.patient_name", context="case:2")
    with pytest.raises(FieldDecryptError):
        cipher.decrypt(token, purpose="case.patient_name")


def test_every_character_change_is_detected(cipher: FieldCipher) -> None:
    token = cipher.encrypt("9876543210", purpose="case.patient_phone")
    prefix_len = token.rindex(":") + 1
    alphabet = "ABCabc019-_"
    for position in range(prefix_len, len(token)):
        replacement = next(c for c in alphabet if c != token[position])
        mutated = token[:position] + replacement + token[position + 1 :]
        with pytest.raises(IntegrityError):
            cipher.decrypt(mutated, purpose="case.patient_phone")


@pytest.mark.parametrize(
    "token", ["", "v1", "v2:k:abc", "v1:bad kid:AAAA", "v1:k:", "v1:k:AAAA", "v1:k:!!!!", "a:b:c:d"]
)
def test_malformed_tokens(cipher: FieldCipher, token: str) -> None:
    with pytest.raises(FieldDecryptError):
        cipher.decrypt(token, purpose="case.patient_name")


def test_error_messages_do_not_echo_values(cipher: FieldCipher) -> None:
    token = cipher.encrypt("Lakshmi Bai", purpose="case.patient_name")
    with pytest.raises(FieldDecryptError) as info:
        cipher.decrypt(token, purpose="case.patient_abha")
    assert "Lakshmi" not in str(info.value)
    assert token not in str(info.value)


def test_length_is_bucketed(cipher: FieldCipher) -> None:
    lengths = {len(cipher.encrypt("x" * n, purpose="p")) for n in range(16)}
    assert len(lengths) == 1
    assert len(cipher.encrypt("x" * 16, purpose="p")) > lengths.pop()


def test_rotation_old_tokens_still_decrypt_and_can_be_rotated() -> None:
    ring = KeyRing.generate()
    cipher = FieldCipher(ring)
    old_kid = ring.active_id
    token = cipher.encrypt("Ramesh", purpose="case.patient_name", context="c1")
    index = cipher.blind_index("Ramesh", purpose="case.patient_name")
    assert not cipher.needs_rotation(token)
    new_kid = ring.add_key()
    assert cipher.key_id(token) == old_kid
    assert cipher.needs_rotation(token)
    assert cipher.decrypt(token, purpose="case.patient_name", context="c1") == "Ramesh"
    rotated = cipher.rotate(token, purpose="case.patient_name", context="c1")
    assert cipher.key_id(rotated) == new_kid
    assert cipher.decrypt(rotated, purpose="case.patient_name", context="c1") == "Ramesh"
    assert cipher.rotate(rotated, purpose="case.patient_name", context="c1") == rotated
    assert cipher.encrypt("x", purpose="p").startswith(f"v1:{new_kid}:")
    # blind index comes from the root key: unchanged by rotation
    assert cipher.blind_index("Ramesh", purpose="case.patient_name") == index


def test_unknown_key_id_is_an_integrity_error(cipher: FieldCipher) -> None:
    token = cipher.encrypt("x", purpose="p")
    stranger = FieldCipher(KeyRing.generate())
    with pytest.raises(UnknownKeyError):
        stranger.decrypt(token, purpose="p")


def test_optional_helpers(cipher: FieldCipher) -> None:
    assert cipher.encrypt_optional(None, purpose="case.patient_abha") is None
    assert cipher.decrypt_optional(None, purpose="case.patient_abha") is None
    token = cipher.encrypt_optional("12345678901234", purpose="case.patient_abha")
    assert token is not None
    assert cipher.decrypt_optional(token, purpose="case.patient_abha") == "12345678901234"


def test_blind_index_normalises_and_separates_columns(cipher: FieldCipher) -> None:
    phone = cipher.blind_index("+91 98765-43210", purpose="case.patient_phone")
    assert phone == cipher.blind_index("+919876543210", purpose="case.patient_phone")
    abha = cipher.blind_index("12-3456-7890-1234", purpose="case.patient_abha")
    assert abha == cipher.blind_index("12345678901234", purpose="case.patient_abha")
    name = cipher.blind_index("  Ramesh   KUMAR ", purpose="case.patient_name")
    assert name == cipher.blind_index("ramesh kumar", purpose="case.patient_name")
    assert cipher.blind_index("12345678901234", purpose="case.patient_phone") != abha
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", abha)
    other = FieldCipher(KeyRing.generate())
    assert other.blind_index("12345678901234", purpose="case.patient_abha") != abha
    assert cipher.blind_index("A b", purpose="x", normalize=False) != cipher.blind_index(
        "a b", purpose="x", normalize=False
    )


def test_purpose_must_be_a_label(cipher: FieldCipher) -> None:
    for bad in ("", "Case Name", "x" * 65, "a\x00b"):
        with pytest.raises(ValueError, match="purpose"):
            cipher.encrypt("v", purpose=bad)


def test_oversized_value_refused(cipher: FieldCipher) -> None:
    with pytest.raises(ValueError, match="too long"):
        cipher.encrypt("x" * 5000, purpose="p")


def test_normalisers() -> None:
    assert normalize_digits("१२-३४") == "1234"
    assert normalize_digits("০৯৮") == "098"
    assert normalize_digits("+91 (98765) 43210") == "919876543210"
    assert normalize_text("  ÅSA\tNilsson ") == "åsa nilsson"


def test_running_cipher_follows_rotation_of_the_keys_file(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    running = FieldCipher(KeyRing.load_or_create(path))
    before = running.encrypt("x", purpose="p")
    rotator = KeyRing.load(path)
    new_kid = rotator.add_key()
    rotator.save()
    after = running.encrypt("y", purpose="p")
    assert running.key_id(after) == new_kid
    assert running.decrypt(before, purpose="p") == "x"
    fresh = FieldCipher(KeyRing.load(path))
    assert fresh.decrypt(after, purpose="p") == "y"
