"""Tests for bot.security.envelope: STREAM AES-GCM envelopes, tamper detection, re-wrap."""

from __future__ import annotations

import io
import itertools
import os
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.security import envelope
from bot.security.envelope import (
    TAG_LEN,
    Header,
    IntegrityError,
    UnknownKeyError,
    UnsupportedFormatError,
    decrypt,
    decrypt_stream,
    encrypt,
    encrypt_stream,
)
from bot.security.keys import KeyRing

LOG2 = 12  # 4 KiB segments keep the tests fast while exercising many segments
SEG = 1 << LOG2


@pytest.fixture(scope="module")
def ring() -> KeyRing:
    return KeyRing.generate()


def _header(blob: bytes) -> Header:
    return Header.read(io.BytesIO(blob))


def _segments(blob: bytes) -> tuple[bytes, list[bytes]]:
    header = _header(blob)
    head, body = blob[: len(header)], blob[len(header) :]
    full = header.segment_size + TAG_LEN
    return head, [body[i : i + full] for i in range(0, len(body), full)]


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


BOUNDARY_SIZES = [0, 1, 2, SEG - 1, SEG, SEG + 1, 2 * SEG - 1, 2 * SEG, 2 * SEG + 1, 5 * SEG]


@pytest.mark.parametrize("size", BOUNDARY_SIZES)
def test_round_trip_at_segment_boundaries(ring: KeyRing, size: int) -> None:
    data = os.urandom(size)
    blob = encrypt(data, ring, segment_log2=LOG2)
    assert decrypt(blob, ring) == data
    header = _header(blob)
    assert len(blob) == envelope.ciphertext_size(size, header)
    _, segments = _segments(blob)
    assert len(segments) == max(1, -(-size // SEG))


@settings(max_examples=150, deadline=None)
@given(
    size=st.one_of(st.sampled_from(BOUNDARY_SIZES), st.integers(0, 6 * SEG + 7)),
    cuts=st.lists(st.integers(0, 10**6), max_size=8),
    context=st.binary(max_size=40),
)
def test_round_trip_any_size_any_chunking(
    ring: KeyRing, size: int, cuts: list[int], context: bytes
) -> None:
    data = random.randbytes(size)
    chunks = _split(data, cuts)
    blob = b"".join(encrypt_stream(chunks, ring, context=context, segment_log2=LOG2))
    assert decrypt(blob, ring, context=context) == data
    # the ciphertext does not depend on how the plaintext was chunked (beyond randomness)
    assert len(blob) == envelope.ciphertext_size(size, _header(blob))


def test_round_trip_multi_megabyte_default_segments(ring: KeyRing) -> None:
    data = os.urandom(5 * 1024 * 1024 + 123)
    chunks = [data[i : i + 100_000] for i in range(0, len(data), 100_000)]
    blob = b"".join(encrypt_stream(chunks, ring, context=b"x"))
    assert _header(blob).segment_size == 64 * 1024
    out = list(decrypt_stream(io.BytesIO(blob), ring, context=b"x"))
    assert b"".join(out) == data
    assert all(len(part) == 64 * 1024 for part in out[:-1])


def test_accepts_bytearray_and_memoryview(ring: KeyRing) -> None:
    data = os.urandom(3 * SEG + 5)
    chunks = [bytearray(data[:100]), memoryview(data)[100:], b""]
    assert decrypt(b"".join(encrypt_stream(chunks, ring, segment_log2=LOG2)), ring) == data


def test_same_plaintext_encrypts_differently(ring: KeyRing) -> None:
    data = b"x" * 1000
    one, two = encrypt(data, ring), encrypt(data, ring)
    assert one != two
    assert _header(one).nonce_prefix != _header(two).nonce_prefix
    assert _header(one).wrapped_key != _header(two).wrapped_key


def test_plaintext_is_not_in_ciphertext(ring: KeyRing) -> None:
    marker = b"PATIENT-MARKER-" * 500
    assert b"PATIENT-MARKER" not in encrypt(marker, ring)


def test_header_layout_matches_documentation(ring: KeyRing) -> None:
    blob = encrypt(b"abc", ring)
    header = _header(blob)
    kid = ring.active_id.encode()
    assert blob[:4] == b"SPKE"
    assert blob[4] == 1
    assert blob[5] == 16
    assert blob[13] == len(kid)
    assert blob[14 : 14 + len(kid)] == kid
    assert blob[14 + len(kid)] == 40
    assert len(header) == 15 + len(kid) + 40
    assert header.to_bytes() == blob[: len(header)]
    assert len(blob) == len(header) + 3 + TAG_LEN


# --- tampering ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample(ring: KeyRing) -> bytes:
    return encrypt(os.urandom(3 * SEG + 100), ring, context=b"ctx", segment_log2=LOG2)


def test_every_header_bit_flip_is_detected(ring: KeyRing, sample: bytes) -> None:
    header_len = len(_header(sample))
    for position in range(header_len):
        for bit in range(8):
            mutated = bytearray(sample)
            mutated[position] ^= 1 << bit
            with pytest.raises(IntegrityError):
                decrypt(bytes(mutated), ring, context=b"ctx")


@settings(max_examples=300, deadline=None)
@given(position=st.integers(0, 10**9), bit=st.integers(0, 7))
def test_any_bit_flip_in_body_or_tag_is_detected(
    ring: KeyRing, sample: bytes, position: int, bit: int
) -> None:
    mutated = bytearray(sample)
    mutated[position % len(sample)] ^= 1 << bit
    with pytest.raises(IntegrityError):
        decrypt(bytes(mutated), ring, context=b"ctx")


def test_every_tag_byte_of_every_segment_is_checked(ring: KeyRing, sample: bytes) -> None:
    head, segments = _segments(sample)
    for index, segment in enumerate(segments):
        for offset in range(len(segment) - TAG_LEN, len(segment)):
            broken = bytearray(segment)
            broken[offset] ^= 0x01
            parts = [*segments[:index], bytes(broken), *segments[index + 1 :]]
            with pytest.raises(IntegrityError):
                decrypt(head + b"".join(parts), ring, context=b"ctx")


def test_every_truncation_is_detected(ring: KeyRing, sample: bytes) -> None:
    for length in range(len(sample)):
        with pytest.raises(IntegrityError):
            decrypt(sample[:length], ring, context=b"ctx")


def test_truncation_at_segment_boundary_is_detected(ring: KeyRing) -> None:
    blob = encrypt(os.urandom(4 * SEG), ring, segment_log2=LOG2)
    head, segments = _segments(blob)
    for keep in range(1, len(segments)):
        with pytest.raises(IntegrityError):
            decrypt(head + b"".join(segments[:keep]), ring)


def test_reordered_dropped_duplicated_segments_are_detected(ring: KeyRing) -> None:
    blob = encrypt(os.urandom(4 * SEG), ring, segment_log2=LOG2)
    head, s = _segments(blob)
    for variant in (
        [s[1], s[0], s[2], s[3]],
        [s[0], s[2], s[1], s[3]],
        [s[0], s[1], s[3], s[2]],
        [s[0], s[2], s[3]],
        [s[0], s[1], s[2], s[2], s[3]],
        [*s, s[3]],
        [*s, b"\x00" * 20],
    ):
        with pytest.raises(IntegrityError):
            decrypt(head + b"".join(variant), ring)


def test_appended_bytes_are_detected(ring: KeyRing, sample: bytes) -> None:
    for extra in (b"\x00", b"x" * TAG_LEN, os.urandom(SEG + TAG_LEN)):
        with pytest.raises(IntegrityError):
            decrypt(sample + extra, ring, context=b"ctx")


def test_swapped_headers_between_objects_are_detected(ring: KeyRing) -> None:
    a = encrypt(os.urandom(2 * SEG + 1), ring, segment_log2=LOG2)
    b = encrypt(os.urandom(2 * SEG + 1), ring, segment_log2=LOG2)
    head_a, body_a = _segments(a)
    head_b, body_b = _segments(b)
    assert len(head_a) == len(head_b)
    with pytest.raises(IntegrityError):
        decrypt(head_a + b"".join(body_b), ring)
    with pytest.raises(IntegrityError):
        decrypt(head_b + b"".join(body_a), ring)
    # only the key block (kid + wrapped key) swapped: the fixed header stays
    with pytest.raises(IntegrityError):
        decrypt(head_a[:13] + head_b[13:] + b"".join(body_a), ring)
    # segments mixed between objects
    with pytest.raises(IntegrityError):
        decrypt(head_a + body_a[0] + body_b[1] + body_a[2], ring)


def test_wrong_context_is_detected(ring: KeyRing) -> None:
    blob = encrypt(b"data", ring, context=b"sampark-blob:aaaa")
    with pytest.raises(IntegrityError):
        decrypt(blob, ring, context=b"sampark-blob:bbbb")
    with pytest.raises(IntegrityError):
        decrypt(blob, ring)


def test_unknown_key_id(ring: KeyRing) -> None:
    blob = encrypt(b"data", ring)
    with pytest.raises(UnknownKeyError):
        decrypt(blob, KeyRing.generate())


def test_same_key_id_with_other_key_material_fails(ring: KeyRing) -> None:
    blob = encrypt(b"data", ring)
    impostor = KeyRing({ring.active_id: os.urandom(32)}, active=ring.active_id)
    with pytest.raises(IntegrityError, match="unwrap"):
        decrypt(blob, impostor)


def test_not_an_envelope() -> None:
    ring = KeyRing.generate()
    for junk in (b"", b"DICM", b"\x00" * 200, b"SPKE\x02" + b"\x00" * 100):
        with pytest.raises(IntegrityError):
            decrypt(junk, ring)
    with pytest.raises(UnsupportedFormatError):
        decrypt(b"SPKE\x01\x30" + b"\x00" * 100, ring)  # absurd segment size


def test_error_messages_carry_no_plaintext_or_key(ring: KeyRing) -> None:
    secret = b"Ramesh Kumar 9876543210"
    blob = bytearray(encrypt(secret, ring))
    blob[-1] ^= 1
    with pytest.raises(IntegrityError) as info:
        decrypt(bytes(blob), ring)
    text = str(info.value)
    assert "Ramesh" not in text
    assert ring.key(ring.active_id).hex() not in text


# --- re-wrap -----------------------------------------------------------------------------


def test_rewrap_header_changes_only_key_block() -> None:
    ring = KeyRing.generate()
    data = os.urandom(3 * SEG)
    blob = encrypt(data, ring, context=b"c", segment_log2=LOG2)
    old = _header(blob)
    ring.add_key(kid="second-key")
    new = envelope.rewrap_header(old, ring)
    assert new.kid == "second-key"
    assert new.fixed == old.fixed
    assert new.wrapped_key != old.wrapped_key
    rewrapped = new.to_bytes() + blob[len(old) :]
    assert decrypt(rewrapped, ring, context=b"c") == data
    assert envelope.unwrap_data_key(ring, new) == envelope.unwrap_data_key(ring, old)


def test_new_header_rejects_bad_segment_size(ring: KeyRing) -> None:
    with pytest.raises(ValueError, match="segment_log2"):
        encrypt(b"x", ring, segment_log2=30)
