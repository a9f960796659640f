"""Master keys: a ring of named 256-bit keys, one active, and purpose-specific sub-keys.

Sources (pick one; the composition root decides with :func:`open_keyring`):

* **Keys file** (default, ``Settings.effective_keys_file``): JSON, mode 0600 in a 0700
  directory. Created with fresh *development* keys on first run by
  :meth:`KeyRing.load_or_create`, with a loud warning in the log. ``sampark keys rotate``
  adds keys to it. A file readable or writable by group/others is refused.
* **Environment** (production, e.g. from a secret manager): ``SAMPARK_MASTER_KEYS`` as
  ``kid1:BASE64,kid2:BASE64,…`` — **newest first**: the first entry is the active key,
  the **last** (oldest) is the root for stable derivations. To rotate, prepend a new
  entry (``sampark keys new-key`` prints one), restart, then run ``sampark keys rewrap``.
  Never drop the last entry, and keep old entries while data wrapped by them exists.

Key hierarchy. A master key is never used directly: every use goes through HKDF-SHA256
with a purpose label (``info = b"sampark/v1/" + purpose``), so keys for different
purposes are independent even though they come from one master.

* :meth:`KeyRing.derive` with ``kid=…`` derives from that master key. Used for
  *encryption* keys (envelope key-encryption keys, field encryption): they rotate with the
  masters, and the ciphertext records the kid so older kids keep decrypting.
* :meth:`KeyRing.derive` without ``kid`` derives from the **root** key (the first key of
  the ring, recorded in the file as ``root``). Used for *deterministic* values — blind
  indexes, DICOM UID remapping, link-token MACs — which must not change when the active
  key rotates (otherwise every index and every issued link would break). Replacing the
  root is a separate, deliberate migration (re-index, re-issue links); not automated.

Key file format (version 1)::

    {"format": "sampark-master-keys", "version": 1, "development": true,
     "active": "k20261128-1a2b3c4d", "root": "k20261128-1a2b3c4d",
     "rotation_pending": null,
     "keys": {"k20261128-1a2b3c4d": {"key": "<base64, 32 bytes>",
                                      "created": "2026-11-28T19:30:00Z"}}}

Nothing in this module logs or raises with key material.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import logging
import os
import re
import secrets
import stat
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

logger = logging.getLogger(__name__)

KEY_BYTES = 32
"""Master keys are 256-bit."""

KEYS_ENV_VAR = "SAMPARK_MASTER_KEYS"
"""Conventional environment variable for production keys (read by ``bot.config``)."""

FILE_FORMAT = "sampark-master-keys"
FILE_VERSION = 1
_KID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_HKDF_SALT = b"sampark-kdf-v1"
_HKDF_INFO_PREFIX = b"sampark/v1/"


class KeyRingError(Exception):
    """Key material is missing, malformed or unsafe; the message says how to fix it."""


class KeyFileError(KeyRingError):
    """The keys file cannot be used (permissions, syntax, missing fields)."""


class UnknownKeyIdError(KeyRingError, LookupError):
    """A key id is not in the ring (data written with a key that was removed?)."""


def valid_kid(kid: str) -> bool:
    """Whether ``kid`` is a well-formed key id (1-64 chars of ``[A-Za-z0-9._-]``)."""
    return bool(_KID_RE.fullmatch(kid))


def new_kid() -> str:
    """A fresh key id: creation date plus 32 random bits, e.g. ``k20261128-1a2b3c4d``."""
    return f"k{datetime.now(UTC):%Y%m%d}-{secrets.token_hex(4)}"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _decode_key(text: str, where: str) -> bytes:
    try:
        raw = base64.b64decode(text.strip() + "=" * (-len(text.strip()) % 4), altchars=b"-_")
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != KEY_BYTES:
        raise KeyRingError(f"{where}: key must be {KEY_BYTES} bytes, base64-encoded")
    return raw


@dataclass(frozen=True)
class KeyInfo:
    """Public facts about one master key (never the key itself)."""

    kid: str
    created: str
    active: bool
    root: bool


@dataclass(frozen=True)
class _State:
    keys: Mapping[str, bytes]
    created: Mapping[str, str]
    active: str
    root: str
    development: bool
    rotation_pending: str | None


class KeyRing:
    """Named master keys with one active key; thread-safe, never prints its keys.

    Build it with :meth:`load_or_create`, :meth:`load`, :meth:`from_spec` or
    :meth:`generate`; persist changes with :meth:`save`.
    """

    def __init__(
        self,
        keys: Mapping[str, bytes],
        *,
        active: str,
        root: str | None = None,
        created: Mapping[str, str] | None = None,
        development: bool = False,
        rotation_pending: str | None = None,
        path: Path | None = None,
    ) -> None:
        self._lock = threading.RLock()
        self._path = path
        self._stamp: tuple[int, int, int] | None = None
        self._derived: dict[tuple[str, bytes, int], bytes] = {}
        self._state = self._check(
            _State(
                keys=dict(keys),
                created=dict(created or {}),
                active=active,
                root=root or active,
                development=development,
                rotation_pending=rotation_pending,
            )
        )

    # -- construction -------------------------------------------------------------------

    @staticmethod
    def _check(state: _State) -> _State:
        if not state.keys:
            raise KeyRingError("the key ring is empty")
        for kid, key in state.keys.items():
            if not valid_kid(kid):
                raise KeyRingError("key ids must be 1-64 characters of A-Z a-z 0-9 . _ -")
            if len(key) != KEY_BYTES:
                raise KeyRingError(f"key {kid!r} must be {KEY_BYTES} bytes")
        for name, kid in (("active", state.active), ("root", state.root)):
            if kid not in state.keys:
                raise KeyRingError(f"the {name} key id {kid!r} is not among the keys")
        return state

    @classmethod
    def generate(cls, *, development: bool = True) -> KeyRing:
        """An in-memory ring with one fresh random key (tests, first run)."""
        kid = new_kid()
        return cls(
            {kid: secrets.token_bytes(KEY_BYTES)},
            active=kid,
            created={kid: _now()},
            development=development,
        )

    @classmethod
    def from_spec(cls, spec: str) -> KeyRing:
        """Parse ``kid1:BASE64,kid2:BASE64`` (newest first; first active, last root)."""
        keys: dict[str, bytes] = {}
        order: list[str] = []
        for index, entry in enumerate(part.strip() for part in spec.split(",")):
            if not entry:
                continue
            kid, sep, encoded = entry.partition(":")
            kid = kid.strip()
            where = f"{KEYS_ENV_VAR} entry {index + 1}"
            if not sep or not valid_kid(kid):
                raise KeyRingError(f"{where}: expected KID:BASE64 with a key id of [A-Za-z0-9._-]")
            if kid in keys:
                raise KeyRingError(f"{where}: duplicate key id {kid!r}")
            keys[kid] = _decode_key(encoded, where)
            order.append(kid)
        if not order:
            raise KeyRingError(f"{KEYS_ENV_VAR} holds no keys; expected KID:BASE64[,KID:BASE64…]")
        return cls(keys, active=order[0], root=order[-1])

    @classmethod
    def load(cls, path: Path) -> KeyRing:
        """Read a keys file, refusing one that group or others may read or write."""
        ring = cls._read_file(path)
        if ring.development:
            logger.warning(
                "Using DEVELOPMENT master keys from %s. Not for patient data: set %s or "
                "KEYS_FILE to production key material.",
                path,
                KEYS_ENV_VAR,
            )
        return ring

    @classmethod
    def load_or_create(cls, path: Path) -> KeyRing:
        """Load the keys file, or create it with development keys (mode 0600) if absent."""
        path = Path(path)
        if not path.exists():
            ring = cls.generate(development=True)
            try:
                ring._write(path, exclusive=True)
            except FileExistsError:
                return cls.load(path)  # another process won the race: use its keys
            _warn_generated(path)
            return cls._read_file(path)
        return cls.load(path)

    @classmethod
    def _read_file(cls, path: Path) -> KeyRing:
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except FileNotFoundError:
            raise KeyFileError(f"keys file {path} does not exist") from None
        except OSError as exc:
            raise KeyFileError(f"cannot open keys file {path}: {exc.strerror}") from None
        with os.fdopen(fd, "rb") as handle:
            info = os.fstat(handle.fileno())
            if os.name == "posix" and info.st_mode & 0o077:
                mode = stat.S_IMODE(info.st_mode)
                raise KeyFileError(
                    f"keys file {path} is accessible by group or others (mode {mode:04o}); "
                    f"refusing to use it. Run `chmod 600 {path}` and check who copied it."
                )
            raw = handle.read()
        try:
            doc = json.loads(raw)
            if doc.get("format") != FILE_FORMAT or doc.get("version") != FILE_VERSION:
                raise KeyFileError(
                    f"keys file {path} is not a version {FILE_VERSION} Sampark keys file"
                )
            entries = doc["keys"]
            keys = {
                kid: _decode_key(entry["key"], f"keys file {path}, key {kid!r}")
                for kid, entry in entries.items()
            }
            created = {kid: str(entry.get("created", "")) for kid, entry in entries.items()}
            ring = cls(
                keys,
                active=doc["active"],
                root=doc.get("root") or doc["active"],
                created=created,
                development=bool(doc.get("development", False)),
                rotation_pending=doc.get("rotation_pending"),
                path=path,
            )
        except KeyRingError:
            raise
        except (ValueError, KeyError, TypeError, AttributeError):
            raise KeyFileError(f"keys file {path} is malformed (invalid JSON or fields)") from None
        ring._stamp = (info.st_ino, info.st_mtime_ns, info.st_size)
        return ring

    # -- persistence --------------------------------------------------------------------

    def save(self, path: Path | None = None) -> None:
        """Atomically write the ring to ``path`` (default: the file it was loaded from)."""
        target = path or self._path
        if target is None:
            raise KeyRingError("this key ring has no file; pass a path to save()")
        self._write(Path(target), exclusive=False)

    def _document(self) -> dict[str, object]:
        state = self._state
        return {
            "format": FILE_FORMAT,
            "version": FILE_VERSION,
            "development": state.development,
            "active": state.active,
            "root": state.root,
            "rotation_pending": state.rotation_pending,
            "keys": {
                kid: {
                    "key": base64.b64encode(key).decode("ascii"),
                    "created": state.created.get(kid, ""),
                }
                for kid, key in state.keys.items()
            },
        }

    def _write(self, path: Path, *, exclusive: bool) -> None:
        with self._lock:
            data = (json.dumps(self._document(), indent=2) + "\n").encode("utf-8")
        _ensure_private_dir(path.parent)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(tmp, flags, 0o600)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            if exclusive:
                os.link(tmp, path)  # fails with FileExistsError instead of overwriting
                os.unlink(tmp)
            else:
                os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        _fsync_dir(path.parent)
        info = os.stat(path)
        with self._lock:
            self._path = path
            self._stamp = (info.st_ino, info.st_mtime_ns, info.st_size)

    def refresh(self) -> bool:
        """Re-read the keys file if it changed on disk (after a rotation by another process).

        Returns True when new state was loaded. A no-op for rings not backed by a file.
        """
        path = self._path
        if path is None:
            return False
        try:
            info = os.stat(path)
        except OSError:
            return False
        if (info.st_ino, info.st_mtime_ns, info.st_size) == self._stamp:
            return False
        fresh = KeyRing._read_file(path)
        with self._lock:
            self._state = fresh._state
            self._stamp = fresh._stamp
        return True

    # -- queries ------------------------------------------------------------------------

    @property
    def path(self) -> Path | None:
        """The keys file this ring is backed by, if any."""
        return self._path

    @property
    def active_id(self) -> str:
        """Key id used for new encryptions."""
        return self._state.active

    @property
    def root_id(self) -> str:
        """Key id used for stable (rotation-independent) derivations."""
        return self._state.root

    @property
    def development(self) -> bool:
        """True for generated development keys."""
        return self._state.development

    @property
    def rotation_pending(self) -> str | None:
        """Key id of a rotation whose re-wrap has not completed yet."""
        return self._state.rotation_pending

    def key_ids(self) -> list[str]:
        """All key ids, active first."""
        state = self._state
        return [state.active, *(kid for kid in state.keys if kid != state.active)]

    def __contains__(self, kid: object) -> bool:
        return kid in self._state.keys

    def info(self) -> list[KeyInfo]:
        """Public facts about every key, active first."""
        state = self._state
        return [
            KeyInfo(kid, state.created.get(kid, ""), kid == state.active, kid == state.root)
            for kid in self.key_ids()
        ]

    def key(self, kid: str) -> bytes:
        """The raw master key ``kid``; prefer :meth:`derive` — masters are for HKDF only."""
        try:
            return self._state.keys[kid]
        except KeyError:
            raise UnknownKeyIdError(f"key id {kid!r} is not in the key ring") from None

    def derive(self, purpose: bytes, *, kid: str | None = None, length: int = 32) -> bytes:
        """HKDF-SHA256 sub-key for ``purpose``.

        With ``kid`` the sub-key comes from that master key (use for encryption keys, which
        rotate). Without it, from the root key, so the value stays the same across
        rotations (use for HMAC keys: blind indexes, UID remapping, link tokens).
        """
        if not purpose:
            raise ValueError("purpose must be a non-empty label")
        source = self._state.root if kid is None else kid
        cache_key = (source, bytes(purpose), length)
        cached = self._derived.get(cache_key)
        if cached is not None:
            return cached
        hkdf = HKDF(
            algorithm=hashes.SHA256(),
            length=length,
            salt=_HKDF_SALT,
            info=_HKDF_INFO_PREFIX + bytes(purpose),
        )
        derived = hkdf.derive(self.key(source))
        with self._lock:
            self._derived[cache_key] = derived
        return derived

    # -- changes ------------------------------------------------------------------------

    def add_key(self, *, kid: str | None = None, key: bytes | None = None) -> str:
        """Add a new key and make it active (old keys stay for decryption); returns its id.

        In memory only: call :meth:`save` to persist.
        """
        with self._lock:
            state = self._state
            kid = kid or new_kid()
            while kid in state.keys:
                kid = new_kid()
            material = key if key is not None else secrets.token_bytes(KEY_BYTES)
            self._state = self._check(
                _State(
                    keys={**state.keys, kid: material},
                    created={**state.created, kid: _now()},
                    active=kid,
                    root=state.root,
                    development=state.development,
                    rotation_pending=state.rotation_pending,
                )
            )
            return kid

    def set_rotation_pending(self, kid: str | None) -> None:
        """Mark (or clear, with None) a rotation to ``kid`` as in progress."""
        with self._lock:
            state = self._state
            if kid is not None and kid not in state.keys:
                raise UnknownKeyIdError(f"key id {kid!r} is not in the key ring")
            self._state = _State(
                keys=state.keys,
                created=state.created,
                active=state.active,
                root=state.root,
                development=state.development,
                rotation_pending=kid,
            )

    def __repr__(self) -> str:
        return f"KeyRing(active={self.active_id!r}, keys={len(self._state.keys)})"


def open_keyring(keys_file: Path, spec: str | None = None) -> KeyRing:
    """The ring for the app: from ``spec`` (``SAMPARK_MASTER_KEYS``) if given, else the file.

    The file is created with development keys on first run (loud warning).
    """
    if spec and spec.strip():
        return KeyRing.from_spec(spec)
    return KeyRing.load_or_create(keys_file)


def _ensure_private_dir(directory: Path) -> None:
    """Create ``directory`` (and parents) with mode 0700 for the parts this call creates."""
    if directory.is_dir():
        return
    missing: list[Path] = []
    current = directory
    while not current.exists():
        missing.append(current)
        current = current.parent
    for part in reversed(missing):
        with contextlib.suppress(FileExistsError):
            part.mkdir(mode=0o700)
        os.chmod(part, 0o700)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _warn_generated(path: Path) -> None:
    bar = "!" * 78
    logger.warning(
        "\n%s\n"
        "  DEVELOPMENT MASTER KEYS GENERATED at %s\n"
        "  These keys protect every stored image and patient identifier. They were made\n"
        "  for a first run on this machine and are NOT suitable for real patient data.\n"
        "  For production, provide real key material: either set %s=KID:BASE64\n"
        "  (32 random bytes, e.g. from `sampark keys new-key`) from your secret manager,\n"
        "  or point KEYS_FILE at a 0600 keys file you back up separately from the data.\n"
        "  Losing the keys file means losing all encrypted data.\n"
        "%s",
        bar,
        path,
        KEYS_ENV_VAR,
        bar,
    )
