"""Encrypted object store: the study originals and previews, encrypted at rest.

:class:`BlobStore` is the interface (an S3-compatible backend can implement it later);
:class:`LocalBlobStore` keeps one envelope file per object under a directory::

    <root>/            0700
      objects/ab/<id>  0600   envelope (see ``bot.security.envelope``); id = 32 random hex
      tmp/             0700   partial writes, renamed into place when complete
      lock                    advisory lock for delete vs. re-wrap

Ids are random (128 bits) and paths carry nothing else: no case code, no kind, no name.
The envelope's context is ``b"sampark-blob:" + id``, so a file moved to another id fails
authentication. The plaintext inside the envelope is a small record followed by the data::

    uint32 n (big-endian) || n bytes of JSON {"kind": …, "meta": {…}} || data

so kind and meta are encrypted too. The API is synchronous and streaming with bounded
memory (about two 64 KiB segments); call it from async code through ``asyncio.to_thread``
(the ``a*`` helpers do exactly that).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import io
import json
import logging
import os
import re
import secrets
import struct
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from bot.security import envelope
from bot.security.envelope import Header, IntegrityError, UnknownKeyError
from bot.security.keys import KeyRing

logger = logging.getLogger(__name__)

READ_CHUNK = 1024 * 1024
MAX_META_BYTES = 64 * 1024
_ID_RE = re.compile(r"^[0-9a-f]{32}$")
_TMP_PREFIX = ".put-"

Source = bytes | bytearray | memoryview | BinaryIO | Iterable[bytes]


class BlobStoreError(Exception):
    """Base class of object store failures."""


class BlobNotFoundError(BlobStoreError, LookupError):
    """No object with that id."""


@dataclass(frozen=True)
class BlobRef:
    """What to keep in the database about a stored object."""

    id: str
    size: int
    kind: str


@dataclass(frozen=True)
class BlobInfo(BlobRef):
    """A stored object's decrypted description."""

    meta: Mapping[str, object] = field(default_factory=dict)
    key_id: str = ""


def valid_blob_id(blob_id: str) -> bool:
    """Whether ``blob_id`` has the shape of an id this store hands out."""
    return isinstance(blob_id, str) and bool(_ID_RE.fullmatch(blob_id))


def blob_context(blob_id: str) -> bytes:
    """Envelope associated data binding ciphertext to its id."""
    return b"sampark-blob:" + blob_id.encode("ascii")


def _chunks(source: Source) -> Iterator[bytes | bytearray | memoryview]:
    if isinstance(source, bytes | bytearray | memoryview):
        yield source
    elif hasattr(source, "read"):
        reader: BinaryIO = source  # type: ignore[assignment]
        while chunk := reader.read(READ_CHUNK):
            yield chunk
    else:
        yield from source


def _record_prefix(kind: str, meta: Mapping[str, object] | None) -> bytes:
    try:
        encoded = json.dumps(
            {"kind": kind, "meta": dict(meta or {})}, separators=(",", ":"), sort_keys=True
        ).encode("utf-8")
    except (TypeError, ValueError):
        raise ValueError("meta must be JSON-serialisable") from None
    if len(encoded) > MAX_META_BYTES:
        raise ValueError(f"meta too large (limit {MAX_META_BYTES} bytes)")
    return struct.pack(">I", len(encoded)) + encoded


class BlobReader(Iterator[bytes]):
    """Iterator of plaintext chunks of one object; close it (or use ``with``) when done.

    ``info`` (kind, meta, size, key id) is available right after opening. Iteration raises
    :class:`IntegrityError` if any segment fails authentication.
    """

    def __init__(self, info: BlobInfo, first: bytes, rest: Iterator[bytes], handle: BinaryIO):
        self.info = info
        self._first: bytes | None = first
        self._rest = rest
        self._handle = handle

    def __next__(self) -> bytes:
        if self._first is not None:
            first, self._first = self._first, None
            if first:
                return first
        try:
            return next(self._rest)
        except StopIteration:
            self.close()
            raise

    def read_all(self) -> bytes:
        """The remaining plaintext as one bytes object."""
        try:
            return b"".join(self)
        finally:
            self.close()

    def close(self) -> None:
        """Release the underlying file."""
        self._handle.close()

    def __enter__(self) -> BlobReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class BlobStore(ABC):
    """Encrypted object store interface. All methods are synchronous and thread-safe."""

    @abstractmethod
    def put(self, data: Source, *, kind: str, meta: Mapping[str, object] | None = None) -> BlobRef:
        """Encrypt and store ``data`` (bytes, a binary file or an iterable of chunks)."""

    @abstractmethod
    def open(self, blob_id: str) -> BlobReader:
        """Open an object for streaming; ``BlobNotFoundError`` if absent."""

    def get(self, blob_id: str) -> bytes:
        """The whole plaintext of an object (small objects only)."""
        return self.open(blob_id).read_all()

    def stat(self, blob_id: str) -> BlobInfo:
        """Decrypted kind, meta and size of an object without reading its data."""
        with self.open(blob_id) as reader:
            return reader.info

    @abstractmethod
    def delete(self, blob_id: str) -> bool:
        """Remove an object; False if it did not exist."""

    @abstractmethod
    def exists(self, blob_id: str) -> bool:
        """Whether an object exists (no decryption)."""

    @abstractmethod
    def ids(self) -> Iterator[str]:
        """Every object id, in no particular order."""

    @abstractmethod
    def key_id(self, blob_id: str) -> str:
        """The master key id an object's data key is currently wrapped with."""

    @abstractmethod
    def rewrap_one(self, blob_id: str, keyring: KeyRing | None = None) -> bool:
        """Re-wrap one object's data key under the active key; True if it changed.

        Only the key block of the header changes; the ciphertext is copied byte for byte.
        """

    def rewrap(self, keyring: KeyRing | None = None) -> int:
        """Re-wrap every object not yet under the active key; returns how many changed."""
        return sum(1 for blob_id in list(self.ids()) if self.rewrap_one(blob_id, keyring))

    async def aput(
        self, data: bytes, *, kind: str, meta: Mapping[str, object] | None = None
    ) -> BlobRef:
        """``put`` in a worker thread."""
        return await asyncio.to_thread(self.put, data, kind=kind, meta=meta)

    async def aget(self, blob_id: str) -> bytes:
        """``get`` in a worker thread."""
        return await asyncio.to_thread(self.get, blob_id)

    async def aopen(self, blob_id: str) -> AsyncIterator[bytes]:
        """Async iterator of plaintext chunks; each file read + decrypt runs in a thread."""
        reader = await asyncio.to_thread(self.open, blob_id)
        try:
            while (chunk := await asyncio.to_thread(next, reader, None)) is not None:
                yield chunk
        finally:
            reader.close()

    async def adelete(self, blob_id: str) -> bool:
        """``delete`` in a worker thread."""
        return await asyncio.to_thread(self.delete, blob_id)


class LocalBlobStore(BlobStore):
    """Envelope files in a local directory (0700 dirs, 0600 files, atomic writes)."""

    def __init__(
        self,
        root: Path,
        keyring: KeyRing,
        *,
        segment_log2: int = envelope.DEFAULT_SEGMENT_LOG2,
        fsync: bool = True,
    ) -> None:
        self.root = Path(root)
        self.keyring = keyring
        self._segment_log2 = segment_log2
        self._fsync = fsync
        self._objects = self.root / "objects"
        self._tmp = self.root / "tmp"
        for directory in (self.root, self._objects, self._tmp):
            _private_dir(directory)
        self._lock_path = self.root / "lock"

    # -- paths ----------------------------------------------------------------------------

    def _path(self, blob_id: str) -> Path:
        if not valid_blob_id(blob_id):
            raise BlobNotFoundError("malformed blob id")
        return self._objects / blob_id[:2] / blob_id

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def _temp_file(self) -> tuple[Path, BinaryIO]:
        path = self._tmp / f"{_TMP_PREFIX}{secrets.token_hex(12)}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        return path, os.fdopen(fd, "wb")

    def _commit(self, tmp: Path, handle: BinaryIO, final: Path) -> None:
        handle.flush()
        if self._fsync:
            os.fsync(handle.fileno())
        handle.close()
        _private_dir(final.parent)
        os.replace(tmp, final)
        if self._fsync:
            _fsync_dir(final.parent)

    # -- API ------------------------------------------------------------------------------

    def put(self, data: Source, *, kind: str, meta: Mapping[str, object] | None = None) -> BlobRef:
        """Encrypt and store ``data``; bounded memory for files and iterables."""
        prefix = _record_prefix(kind, meta)
        self.keyring.refresh()
        blob_id = secrets.token_hex(16)
        size = 0

        def plaintext() -> Iterator[bytes | bytearray | memoryview]:
            nonlocal size
            yield prefix
            for chunk in _chunks(data):
                size += len(chunk)
                yield chunk

        tmp, handle = self._temp_file()
        try:
            for piece in envelope.encrypt_stream(
                plaintext(),
                self.keyring,
                context=blob_context(blob_id),
                segment_log2=self._segment_log2,
            ):
                handle.write(piece)
            self._commit(tmp, handle, self._path(blob_id))
        except BaseException:
            handle.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        return BlobRef(id=blob_id, size=size, kind=kind)

    def open(self, blob_id: str) -> BlobReader:
        """Open an object; its kind/meta are decrypted at once, data as you iterate."""
        path = self._path(blob_id)
        try:
            handle: BinaryIO = open(path, "rb")  # noqa: SIM115 - owned by the BlobReader
        except FileNotFoundError:
            raise BlobNotFoundError(f"no blob {blob_id}") from None
        try:
            total = os.fstat(handle.fileno()).st_size
            header = Header.read(handle)
            body = total - len(header)
            try:
                stream = envelope.decrypt_stream(
                    handle, self.keyring, context=blob_context(blob_id), header=header
                )
                buffer = next(stream)
            except UnknownKeyError:
                if not self.keyring.refresh():
                    raise
                handle.seek(len(header))
                stream = envelope.decrypt_stream(
                    handle, self.keyring, context=blob_context(blob_id), header=header
                )
                buffer = next(stream)
            while len(buffer) < 4 or len(buffer) < 4 + struct.unpack(">I", buffer[:4])[0]:
                more = next(stream, None)
                if more is None:
                    raise IntegrityError("blob record truncated")
                buffer += more
            (meta_len,) = struct.unpack(">I", buffer[:4])
            try:
                record = json.loads(buffer[4 : 4 + meta_len])
                kind, meta = str(record["kind"]), dict(record["meta"])
            except (ValueError, KeyError, TypeError):
                raise IntegrityError("blob record malformed") from None
            full = header.segment_size + envelope.TAG_LEN
            segments = max(1, -(-body // full))
            size = body - segments * envelope.TAG_LEN - 4 - meta_len
            info = BlobInfo(id=blob_id, size=size, kind=kind, meta=meta, key_id=header.kid)
            return BlobReader(info, bytes(buffer[4 + meta_len :]), stream, handle)
        except BaseException:
            handle.close()
            raise

    def delete(self, blob_id: str) -> bool:
        """Unlink an object (under the store lock, so a concurrent re-wrap cannot revive it)."""
        path = self._path(blob_id)
        with self._locked():
            try:
                os.unlink(path)
            except FileNotFoundError:
                return False
        if self._fsync:
            _fsync_dir(path.parent)
        return True

    def exists(self, blob_id: str) -> bool:
        """Whether the object file exists."""
        try:
            return self._path(blob_id).is_file()
        except BlobNotFoundError:
            return False

    def ids(self) -> Iterator[str]:
        """Ids of all stored objects."""
        for shard in sorted(self._objects.iterdir()):
            if shard.is_dir():
                for entry in sorted(shard.iterdir()):
                    if valid_blob_id(entry.name) and entry.name[:2] == shard.name:
                        yield entry.name

    def key_id(self, blob_id: str) -> str:
        """The master key id in an object's header (reads only the header)."""
        try:
            with open(self._path(blob_id), "rb") as handle:
                return Header.read(handle).kid
        except FileNotFoundError:
            raise BlobNotFoundError(f"no blob {blob_id}") from None

    def rewrap_one(self, blob_id: str, keyring: KeyRing | None = None) -> bool:
        """Re-wrap one object's data key under the active key, atomically."""
        ring = keyring or self.keyring
        path = self._path(blob_id)
        try:
            source: BinaryIO = open(path, "rb")  # noqa: SIM115
        except FileNotFoundError:
            return False
        with source:
            header = Header.read(source)
            if header.kid == ring.active_id:
                return False
            new = envelope.rewrap_header(header, ring)
            tmp, handle = self._temp_file()
            try:
                handle.write(new.to_bytes())
                while chunk := source.read(READ_CHUNK):
                    handle.write(chunk)
                with self._locked():
                    try:
                        current = os.stat(path)
                    except FileNotFoundError:  # deleted meanwhile: do not resurrect it
                        raise _Vanished from None
                    before = os.fstat(source.fileno())
                    if (current.st_ino, current.st_dev) != (before.st_ino, before.st_dev):
                        raise _Vanished  # replaced meanwhile (another re-wrap): leave it
                    self._commit(tmp, handle, path)
            except _Vanished:
                handle.close()
                os.unlink(tmp)
                return False
            except BaseException:
                handle.close()
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
                raise
        return True

    def sweep_temp(self, older_than: float = 3600.0) -> int:
        """Remove partial writes left by crashed processes; returns how many."""
        removed = 0
        cutoff = time.time() - older_than
        for entry in self._tmp.iterdir():
            if entry.name.startswith(_TMP_PREFIX) and entry.stat().st_mtime < cutoff:
                with contextlib.suppress(FileNotFoundError):
                    entry.unlink()
                    removed += 1
        return removed


class _Vanished(Exception):
    """The object changed under a re-wrap; skip it."""


def _private_dir(directory: Path) -> None:
    """Ensure ``directory`` exists with mode 0700 (tightening a looser existing mode)."""
    with contextlib.suppress(FileExistsError):
        directory.mkdir(mode=0o700, parents=True)
    mode = directory.stat().st_mode & 0o777
    if mode != 0o700:
        if mode & 0o077:
            logger.warning("tightening permissions of %s from %04o to 0700", directory, mode)
        os.chmod(directory, 0o700)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_header(data: bytes) -> Header:
    """Parse the envelope header at the start of ``data`` (diagnostics, tests)."""
    return Header.read(io.BytesIO(data))
