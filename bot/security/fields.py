"""Encryption of small patient-identifier fields (name, phone, ABHA number) for DB columns.

Token format (ASCII, fits a ``TEXT``/``VARCHAR`` column)::

    v1:<kid>:<base64url(nonce(12) || AES-256-GCM ciphertext || tag(16)), unpadded>

* key: ``KeyRing.derive(b"field-encryption", kid=kid)`` — rotates with the master keys;
  tokens written under an older kid keep decrypting while that key stays in the ring, and
  :meth:`FieldCipher.needs_rotation` / :meth:`FieldCipher.rotate` re-encrypt them.
* associated data: ``b"sampark-field/v1\\x00" + kid + b"\\x00" + purpose + b"\\x00" + context``.
  ``purpose`` names the column (``"case.patient_name"``) so a value cannot be moved to
  another column; ``context`` optionally binds it to a row (e.g. the case id) so it cannot
  be copied to another record either.
* plaintext is UTF-8 padded (ISO/IEC 7816-4: 0x80 then zeros) to a multiple of 16 bytes,
  so the ciphertext length reveals only a length bucket.

Blind index (:meth:`FieldCipher.blind_index`): HMAC-SHA256 under a key derived from the
*root* key (stable across rotations) over ``purpose || 0x00 || normalised value``,
truncated to 128 bits, base64url. It allows "find the case with this ABHA number" without
decrypting every row. Note: phone and ABHA numbers have little entropy, so anyone holding
the key can brute-force an index; without the key it reveals only equality.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import unicodedata

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bot.security.envelope import IntegrityError, UnknownKeyError
from bot.security.keys import KeyRing, valid_kid

TOKEN_VERSION = "v1"  # noqa: S105 - a format tag, not a secret
FIELD_PURPOSE = b"field-encryption"
INDEX_PURPOSE = b"blind-index"
NONCE_LEN = 12
PAD_BLOCK = 16
MAX_FIELD_BYTES = 4096
_PURPOSE_RE = re.compile(r"^[a-z0-9_.:-]{1,64}$")


class FieldDecryptError(IntegrityError):
    """A field token is malformed, tampered, for another column/row, or its key is missing."""


def _check_purpose(purpose: str) -> bytes:
    if not _PURPOSE_RE.fullmatch(purpose):
        raise ValueError("purpose must be 1-64 chars of [a-z0-9_.:-], e.g. 'case.patient_name'")
    return purpose.encode("ascii")


def _context_bytes(context: str | bytes) -> bytes:
    return context.encode("utf-8") if isinstance(context, str) else bytes(context)


def _pad(data: bytes) -> bytes:
    padded = data + b"\x80"
    return padded + b"\x00" * (-len(padded) % PAD_BLOCK)


def _unpad(data: bytes) -> bytes:
    stripped = data.rstrip(b"\x00")
    if not stripped.endswith(b"\x80"):
        raise FieldDecryptError("field padding invalid")
    return stripped[:-1]


def normalize_digits(value: str) -> str:
    """ASCII digits only: ``12-3456-7890-1234`` → ``12345678901234``; ``१२`` → ``12``.

    Country codes are not interpreted: canonicalise phone numbers (e.g. E.164) first.
    """
    return "".join(
        str(unicodedata.decimal(ch))
        for ch in unicodedata.normalize("NFKC", value)
        if unicodedata.decimal(ch, None) is not None
    )


def normalize_text(value: str) -> str:
    """NFKC, case-folded, inner whitespace collapsed (names)."""
    return " ".join(unicodedata.normalize("NFKC", value).casefold().split())


class FieldCipher:
    """Encrypts and decrypts identifier fields with keys derived from a :class:`KeyRing`."""

    def __init__(self, keyring: KeyRing) -> None:
        self._keyring = keyring

    def _aad(self, kid: str, purpose: str, context: str | bytes) -> bytes:
        return b"\x00".join(
            (
                b"sampark-field/" + TOKEN_VERSION.encode(),
                kid.encode("ascii"),
                _check_purpose(purpose),
                _context_bytes(context),
            )
        )

    def _aead(self, kid: str) -> AESGCM:
        if kid not in self._keyring:
            self._keyring.refresh()
            if kid not in self._keyring:
                raise UnknownKeyError(f"field was encrypted with key id {kid!r}, not in the ring")
        return AESGCM(self._keyring.derive(FIELD_PURPOSE, kid=kid))

    def encrypt(self, value: str, *, purpose: str, context: str | bytes = b"") -> str:
        """Encrypt ``value`` for column ``purpose`` (optionally bound to a row ``context``)."""
        raw = value.encode("utf-8")
        if len(raw) > MAX_FIELD_BYTES:
            raise ValueError(f"field too long (limit {MAX_FIELD_BYTES} bytes)")
        self._keyring.refresh()  # pick up a rotation done by `sampark keys rotate`
        kid = self._keyring.active_id
        nonce = secrets.token_bytes(NONCE_LEN)
        sealed = self._aead(kid).encrypt(nonce, _pad(raw), self._aad(kid, purpose, context))
        body = base64.urlsafe_b64encode(nonce + sealed).rstrip(b"=").decode("ascii")
        return f"{TOKEN_VERSION}:{kid}:{body}"

    def decrypt(self, token: str, *, purpose: str, context: str | bytes = b"") -> str:
        """Decrypt a token; :class:`FieldDecryptError` if it was not made for this column/row."""
        kid, blob = self._parse(token)
        try:
            padded = self._aead(kid).decrypt(
                blob[:NONCE_LEN], blob[NONCE_LEN:], self._aad(kid, purpose, context)
            )
        except InvalidTag:
            raise FieldDecryptError(
                "field token failed authentication (tampered, wrong column/row, or wrong key)"
            ) from None
        try:
            return _unpad(padded).decode("utf-8")
        except UnicodeDecodeError:
            raise FieldDecryptError("field plaintext is not UTF-8") from None

    def encrypt_optional(
        self, value: str | None, *, purpose: str, context: str | bytes = b""
    ) -> str | None:
        """``encrypt`` that passes ``None`` (an optional field left empty) through."""
        return None if value is None else self.encrypt(value, purpose=purpose, context=context)

    def decrypt_optional(
        self, token: str | None, *, purpose: str, context: str | bytes = b""
    ) -> str | None:
        """``decrypt`` that passes ``None`` through."""
        return None if token is None else self.decrypt(token, purpose=purpose, context=context)

    @staticmethod
    def key_id(token: str) -> str:
        """The key id a token was written with."""
        return FieldCipher._parse(token)[0]

    def needs_rotation(self, token: str) -> bool:
        """Whether a token was written under a key other than the active one."""
        return self.key_id(token) != self._keyring.active_id

    def rotate(self, token: str, *, purpose: str, context: str | bytes = b"") -> str:
        """Re-encrypt a token under the active key (unchanged if already current)."""
        if not self.needs_rotation(token):
            return token
        value = self.decrypt(token, purpose=purpose, context=context)
        return self.encrypt(value, purpose=purpose, context=context)

    def blind_index(self, value: str, *, purpose: str, normalize: bool = True) -> str:
        """Keyed, rotation-stable lookup index for ``value`` in column ``purpose``.

        With ``normalize`` digits-only purposes (``phone``/``abha`` in the name) keep only
        digits, others are case-folded with whitespace collapsed.
        """
        label = _check_purpose(purpose)
        if normalize:
            digits = "phone" in purpose or "abha" in purpose
            value = normalize_digits(value) if digits else normalize_text(value)
        key = self._keyring.derive(INDEX_PURPOSE)
        mac = hmac.new(key, label + b"\x00" + value.encode("utf-8"), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac[:16]).rstrip(b"=").decode("ascii")

    @staticmethod
    def _parse(token: str) -> tuple[str, bytes]:
        parts = token.split(":") if isinstance(token, str) else []
        if len(parts) != 3 or parts[0] != TOKEN_VERSION or not valid_kid(parts[1]):
            raise FieldDecryptError("not a v1 field token")
        body = parts[2]
        try:
            blob = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        except (binascii.Error, ValueError):
            raise FieldDecryptError("field token is not valid base64") from None
        if base64.urlsafe_b64encode(blob).rstrip(b"=").decode("ascii") != body:
            # Unused low bits of the last character: two spellings, one value. Refuse.
            raise FieldDecryptError("field token is not canonical base64")
        if len(blob) < NONCE_LEN + PAD_BLOCK + 16:
            raise FieldDecryptError("field token too short")
        return parts[1], blob
