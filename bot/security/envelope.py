"""Envelope encryption: AES-256-GCM in the STREAM construction, data key wrapped by a master key.

Every object gets a fresh random 256-bit data key. The data is cut into segments
(default 64 KiB), each sealed with AES-256-GCM (``cryptography``'s ``AESGCM``). The data
key is wrapped with AES Key Wrap (RFC 3394, NIST SP 800-38F) under a key-encryption key
derived by HKDF from the master key ``kid`` (``KeyRing.derive(b"envelope-kek", kid=…)``).

Why AES-KW for the data key: it is the standard primitive for wrapping keys, it is
deterministic (no nonce to manage across millions of wraps under one master key), and its
64-bit integrity check makes unwrapping under the wrong or a tampered key fail. The kid and
the wrapped key are deliberately *outside* the segments' associated data: that is what lets
rotation re-wrap the data key by rewriting only this small block, never the ciphertext.
Tampering with that block still fails (unwrap check, or a wrong data key fails every
segment tag).

Format, version 1 (all integers big-endian)::

    offset  size  field
    0       4     magic  b"SPKE"
    4       1     version = 1
    5       1     log2(segment size), 12..24 (default 16 = 64 KiB)
    6       7     nonce prefix (random per object)
    --- the 13 bytes above are the *fixed header*, bound into every segment ---
    13      1     n = length of kid (1..64)
    14      n     kid, ASCII
    14+n    1     w = length of wrapped data key (40 for AES-KW of 32 bytes)
    15+n    w     wrapped data key
    15+n+w  ...   segments

    segment i   = AES-256-GCM(data key, nonce_i, plaintext_i, aad_i) = ciphertext || 16-byte tag
    nonce_i     = nonce prefix (7) || i as uint32 (4) || final flag (1: 0x01 last, else 0x00)
    aad_i       = fixed header (13) || i as uint32 (4) || final flag (1) || context

Every segment but the last holds exactly ``segment size`` plaintext bytes; the last holds
1..segment size bytes, or 0 for an empty object (which is a single empty final segment).
Truncation (a non-final segment becomes last), reordering (index in nonce and aad),
appending (data after the final segment), header tampering (fixed header in aad; kid/wrapped
key by the unwrap check) and moving an object to another name (``context``, e.g. the blob
id, supplied by the caller and not stored) all raise :class:`IntegrityError`.
Plaintext of a segment is released only after its tag verified; a consumer streaming to a
client must still treat an exception mid-stream as "discard everything".
"""

from __future__ import annotations

import io
import secrets
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import BinaryIO, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import (
    InvalidUnwrap,
    aes_key_unwrap,
    aes_key_wrap,
)

MAGIC = b"SPKE"
VERSION = 1
FIXED_HEADER_LEN = 13
NONCE_PREFIX_LEN = 7
TAG_LEN = 16
DATA_KEY_LEN = 32
DEFAULT_SEGMENT_LOG2 = 16
MIN_SEGMENT_LOG2 = 12
MAX_SEGMENT_LOG2 = 24
MAX_SEGMENTS = 2**32 - 1
KEK_PURPOSE = b"envelope-kek"


class EnvelopeError(Exception):
    """Base class of envelope failures."""


class IntegrityError(EnvelopeError):
    """Ciphertext, header or key failed authentication (tampered, truncated, wrong key)."""


class UnknownKeyError(IntegrityError):
    """The object was wrapped with a key id the ring does not hold."""


class UnsupportedFormatError(IntegrityError):
    """Not an envelope, or a version/parameter this code does not read."""


class MasterKeys(Protocol):
    """What the envelope needs from a key ring (``bot.security.keys.KeyRing``)."""

    @property
    def active_id(self) -> str: ...

    def __contains__(self, kid: object) -> bool: ...

    def derive(self, purpose: bytes, *, kid: str | None = None, length: int = 32) -> bytes: ...


@dataclass(frozen=True)
class Header:
    """Parsed envelope header; ``to_bytes()`` gives the exact on-disk encoding."""

    segment_log2: int
    nonce_prefix: bytes
    kid: str
    wrapped_key: bytes
    version: int = VERSION

    @property
    def segment_size(self) -> int:
        """Plaintext bytes per (non-final) segment."""
        return 1 << self.segment_log2

    @property
    def fixed(self) -> bytes:
        """The immutable part bound into every segment's associated data."""
        return MAGIC + bytes([self.version, self.segment_log2]) + self.nonce_prefix

    def to_bytes(self) -> bytes:
        """Encode as stored."""
        kid = self.kid.encode("ascii")
        return (
            self.fixed + bytes([len(kid)]) + kid + bytes([len(self.wrapped_key)]) + self.wrapped_key
        )

    def __len__(self) -> int:
        return FIXED_HEADER_LEN + 2 + len(self.kid) + len(self.wrapped_key)

    @classmethod
    def read(cls, source: BinaryIO) -> Header:
        """Read and validate a header from the start of ``source``."""
        fixed = _read_exact(source, FIXED_HEADER_LEN)
        if fixed[:4] != MAGIC:
            raise UnsupportedFormatError("not a Sampark envelope (bad magic)")
        version, log2 = fixed[4], fixed[5]
        if version != VERSION:
            raise UnsupportedFormatError(f"unsupported envelope version {version}")
        if not MIN_SEGMENT_LOG2 <= log2 <= MAX_SEGMENT_LOG2:
            raise UnsupportedFormatError("invalid segment size in envelope header")
        kid_len = _read_exact(source, 1)[0]
        if not 1 <= kid_len <= 64:
            raise IntegrityError("invalid key id length in envelope header")
        kid_raw = _read_exact(source, kid_len)
        try:
            kid = kid_raw.decode("ascii")
        except UnicodeDecodeError:
            raise IntegrityError("invalid key id in envelope header") from None
        wrapped_len = _read_exact(source, 1)[0]
        if wrapped_len != DATA_KEY_LEN + 8:
            raise IntegrityError("invalid wrapped key length in envelope header")
        wrapped = _read_exact(source, wrapped_len)
        return cls(segment_log2=log2, nonce_prefix=fixed[6:13], kid=kid, wrapped_key=wrapped)


def _read_exact(source: BinaryIO, size: int) -> bytes:
    data = _read_up_to(source, size)
    if len(data) != size:
        raise IntegrityError("envelope truncated")
    return data


def _read_up_to(source: BinaryIO, size: int) -> bytes:
    parts: list[bytes] = []
    remaining = size
    while remaining:
        chunk = source.read(remaining)
        if not chunk:
            break
        parts.append(chunk)
        remaining -= len(chunk)
    return parts[0] if len(parts) == 1 else b"".join(parts)


def _kek(keys: MasterKeys, kid: str) -> bytes:
    if kid not in keys:
        raise UnknownKeyError(f"object is wrapped with key id {kid!r}, which is not in the ring")
    return keys.derive(KEK_PURPOSE, kid=kid)


def wrap_data_key(keys: MasterKeys, data_key: bytes, kid: str | None = None) -> tuple[str, bytes]:
    """Wrap ``data_key`` under master ``kid`` (default: active); returns (kid, wrapped)."""
    kid = kid or keys.active_id
    return kid, aes_key_wrap(_kek(keys, kid), data_key)


def unwrap_data_key(keys: MasterKeys, header: Header) -> bytes:
    """Recover the data key of ``header``; IntegrityError on a wrong or tampered key."""
    try:
        return aes_key_unwrap(_kek(keys, header.kid), header.wrapped_key)
    except InvalidUnwrap:
        raise IntegrityError("data key does not unwrap (wrong master key or tampering)") from None


def rewrap_header(header: Header, keys: MasterKeys, kid: str | None = None) -> Header:
    """The same header with its data key re-wrapped under ``kid`` (default: active).

    The fixed header, and therefore every segment, stays valid unchanged.
    """
    data_key = unwrap_data_key(keys, header)
    new_kid, wrapped = wrap_data_key(keys, data_key, kid)
    return replace(header, kid=new_kid, wrapped_key=wrapped)


def _nonce(prefix: bytes, index: int, final: bool) -> bytes:
    return prefix + struct.pack(">IB", index, 1 if final else 0)


def _aad(fixed: bytes, index: int, final: bool, context: bytes) -> bytes:
    return fixed + struct.pack(">IB", index, 1 if final else 0) + context


class _Sealer:
    def __init__(self, header: Header, data_key: bytes, context: bytes) -> None:
        self._aead = AESGCM(data_key)
        self._header = header
        self._fixed = header.fixed
        self._context = context
        self._index = 0

    def seal(self, plaintext: bytes | bytearray | memoryview, final: bool) -> bytes:
        if self._index > MAX_SEGMENTS:
            raise EnvelopeError("object too large for one envelope")
        index = self._index
        self._index += 1
        return self._aead.encrypt(
            _nonce(self._header.nonce_prefix, index, final),
            plaintext,
            _aad(self._fixed, index, final, self._context),
        )

    def open(self, ciphertext: bytes, final: bool) -> bytes:
        index = self._index
        self._index += 1
        try:
            return self._aead.decrypt(
                _nonce(self._header.nonce_prefix, index, final),
                ciphertext,
                _aad(self._fixed, index, final, self._context),
            )
        except InvalidTag:
            raise IntegrityError(f"segment {index} failed authentication") from None


def new_header(
    keys: MasterKeys, *, segment_log2: int = DEFAULT_SEGMENT_LOG2
) -> tuple[Header, bytes]:
    """A fresh header and its (unwrapped) data key."""
    if not MIN_SEGMENT_LOG2 <= segment_log2 <= MAX_SEGMENT_LOG2:
        raise ValueError(f"segment_log2 must be within {MIN_SEGMENT_LOG2}..{MAX_SEGMENT_LOG2}")
    data_key = secrets.token_bytes(DATA_KEY_LEN)
    kid, wrapped = wrap_data_key(keys, data_key)
    header = Header(
        segment_log2=segment_log2,
        nonce_prefix=secrets.token_bytes(NONCE_PREFIX_LEN),
        kid=kid,
        wrapped_key=wrapped,
    )
    return header, data_key


def encrypt_stream(
    chunks: Iterable[bytes | bytearray | memoryview],
    keys: MasterKeys,
    *,
    context: bytes = b"",
    segment_log2: int = DEFAULT_SEGMENT_LOG2,
) -> Iterator[bytes]:
    """Encrypt plaintext ``chunks`` of any sizes; yields the header, then sealed segments.

    Memory stays around two segments plus the largest input chunk.
    """
    header, data_key = new_header(keys, segment_log2=segment_log2)
    sealer = _Sealer(header, data_key, context)
    size = header.segment_size
    yield header.to_bytes()
    pending = bytearray()
    for chunk in chunks:
        view = memoryview(chunk).cast("B")
        offset, end = 0, len(view)
        while offset < end:
            if len(pending) == size:  # more data follows, so this segment is not the last
                yield sealer.seal(pending, final=False)
                pending = bytearray()
            if not pending and end - offset > size:  # whole segment straight from the input
                yield sealer.seal(view[offset : offset + size], final=False)
                offset += size
                continue
            take = min(size - len(pending), end - offset)
            pending += view[offset : offset + take]
            offset += take
    yield sealer.seal(pending, final=True)


def decrypt_stream(
    source: BinaryIO, keys: MasterKeys, *, context: bytes = b"", header: Header | None = None
) -> Iterator[bytes]:
    """Authenticate and decrypt an envelope read from ``source``; yields plaintext segments.

    Pass ``header`` if it was already read from ``source``. Raises :class:`IntegrityError`
    (possibly after some segments were yielded) on any tampering or truncation.
    """
    if header is None:
        header = Header.read(source)
    data_key = unwrap_data_key(keys, header)
    sealer = _Sealer(header, data_key, context)
    full = header.segment_size + TAG_LEN
    current = _read_up_to(source, full)
    while True:
        if len(current) < TAG_LEN:
            raise IntegrityError("envelope truncated")
        if len(current) < full:
            yield sealer.open(current, final=True)
            return
        following = _read_up_to(source, full)
        if not following:
            yield sealer.open(current, final=True)
            return
        yield sealer.open(current, final=False)
        current = following


def encrypt(
    data: bytes, keys: MasterKeys, *, context: bytes = b"", segment_log2: int = DEFAULT_SEGMENT_LOG2
) -> bytes:
    """Encrypt ``data`` in one call (small objects)."""
    return b"".join(encrypt_stream([data], keys, context=context, segment_log2=segment_log2))


def decrypt(blob: bytes, keys: MasterKeys, *, context: bytes = b"") -> bytes:
    """Decrypt an envelope held in memory."""
    return b"".join(decrypt_stream(io.BytesIO(blob), keys, context=context))


def ciphertext_size(plaintext_size: int, header: Header) -> int:
    """Exact envelope size for ``plaintext_size`` bytes under ``header``."""
    segments = max(1, -(-plaintext_size // header.segment_size))
    return len(header) + plaintext_size + segments * TAG_LEN
