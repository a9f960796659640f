"""Upload links: one large file, sent from a phone's browser, into a health worker's draft.

Telegram lets a bot download files up to 20 MB; a CT study is often 150 MB. The bot
answers such a file (or ``/upload``) with a one-time link bound to the draft, and the
upload page sends the file in chunks with a tus-style protocol (``bot.web.uploads``).

Token
    ``capability_links.new_token()`` (192 random bits, no identifier). Only
    ``hex(HMAC-SHA256(keyring.derive(b"upload-tokens"), token))`` is stored
    (``uploads.token_hash``), looked up through its unique index and compared again in
    constant time, exactly as for capability links. One link carries one file: once that
    file is complete the link is spent (410), and it dies at its expiry (default 24 h), when
    the draft is submitted or discarded, or when its owner is no longer an active user.

Chunks
    Each chunk (at most :data:`CHUNK_LIMIT`) arrives at the current offset with a SHA-1 or
    SHA-256 checksum, is verified, then stored at once as its own encrypted object in the
    blob store (envelope encryption, the same keys as the study), so nothing of the file is
    ever on disk in the clear, even half-way. The offset only moves by a conditional UPDATE
    (``received = <expected>``), so two requests racing for one offset cannot both land;
    the loser's segment is deleted and it gets 409 with the current offset.

Completion
    The last chunk moves the upload to ``processing``; the segments are decrypted in order
    into one buffer and handed to :meth:`AttachmentService.add` (the same imaging pipeline,
    de-identification and encrypted store as a file sent in chat), then deleted. Progress
    (every 25 %) and the result reach the chat through the :class:`UploadNotifier` port.
    Receiving holds at most one chunk per request in memory; completion holds the whole
    file (and its copy on the way to the worker), so a process completes one at a time.
    A completed upload is claimed before processing, so after a crash the next start
    (:meth:`UploadService.resume_unfinished`) takes it up, and only one process does.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import logging
import re
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.cases.attachments import AttachmentOutcome, AttachmentService
from bot.clock import Clock
from bot.domain import CaseStatus, Role
from bot.imaging.errors import Reason
from bot.security.blobstore import BlobStore
from bot.security.capability_links import new_token
from bot.security.keys import KeyRing
from bot.storage import audit
from bot.storage.database import Database
from bot.storage.models import Case, Upload, UploadSegment, User

log = logging.getLogger(__name__)

HMAC_PURPOSE = b"upload-tokens"
CHUNK_LIMIT = 1024 * 1024
"""Largest chunk one request may carry (bytes); the page sends exactly this much."""
DEFAULT_MAX_BYTES = 500 * 1024 * 1024
DEFAULT_TTL = timedelta(hours=24)
CLAIM_TIMEOUT = timedelta(minutes=10)
"""A process that took a finished upload and died: another one takes it after this long."""
SEGMENT_KIND = "upload-segment"
_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{16,128}")
_ALGORITHMS: dict[str, Callable[[bytes], hashlib._Hash]] = {
    "sha1": hashlib.sha1,
    "sha256": hashlib.sha256,
}
ALGORITHMS = tuple(_ALGORITHMS)


class UploadState(StrEnum):
    OPEN = "open"  # link issued, no file announced yet
    RECEIVING = "receiving"  # length known, chunks arriving
    PROCESSING = "processing"  # complete, in the imaging pipeline
    DONE = "done"
    FAILED = "failed"
    EXPIRED = "expired"  # expiry passed or the draft ended before completion


_LIVE = (UploadState.OPEN, UploadState.RECEIVING)


class Problem(StrEnum):
    """Why a request was refused; :attr:`status` is the HTTP answer."""

    UNKNOWN = "unknown"  # no such token
    GONE = "gone"  # expired, spent, or the draft is no longer open
    CONFLICT = "conflict"  # wrong offset, or another length than announced
    CHECKSUM = "checksum"  # the chunk does not match its checksum
    TOO_LARGE = "too_large"  # over the size limit, or past the announced length
    BAD_REQUEST = "bad_request"  # missing or malformed header

    @property
    def status(self) -> int:
        return _STATUS[self]


_STATUS = {
    Problem.UNKNOWN: 404,
    Problem.GONE: 410,
    Problem.CONFLICT: 409,
    Problem.CHECKSUM: 460,
    Problem.TOO_LARGE: 413,
    Problem.BAD_REQUEST: 400,
}


class UploadRefused(Exception):
    """A request the upload cannot accept; ``offset`` is the current one where known."""

    def __init__(self, problem: Problem, offset: int | None = None) -> None:
        super().__init__(problem.value)
        self.problem = problem
        self.offset = offset


@dataclass(frozen=True)
class IssuedUpload:
    """A new upload link; ``token`` exists only here — put it in the link, never store it."""

    token: str
    upload_id: int
    expires_at: datetime


@dataclass(frozen=True)
class UploadView:
    """One upload as the web side and the notifier see it (no token, no file name)."""

    id: int
    case_id: int
    case_code: str
    telegram_id: int
    chat_id: int
    language: str
    status_message_id: int | None
    state: UploadState
    length: int | None
    offset: int
    expires_at: datetime

    @property
    def percent(self) -> int:
        """How much has arrived, 0..100 (0 while the length is unknown)."""
        if not self.length:
            return 0
        return min(100, self.offset * 100 // self.length)


class UploadNotifier(Protocol):
    """How upload events reach the health worker's chat (implemented by the handler layer)."""

    async def progress(self, upload: UploadView, percent: int) -> None:
        """The upload passed ``percent`` (25, 50, 75 or 100)."""
        ...

    async def finished(self, upload: UploadView, outcome: AttachmentOutcome) -> None:
        """The file went through the pipeline: processed, or refused with a reason."""
        ...

    async def abandoned(self, upload: UploadView) -> None:
        """The file arrived after its draft was submitted or discarded: not added."""
        ...


def parse_checksum(header: str | None) -> tuple[str, bytes]:
    """``"sha1 <base64>"`` or ``"sha256 <base64>"`` → (algorithm, digest); BAD_REQUEST else."""
    algorithm, _, encoded = (header or "").strip().partition(" ")
    algorithm = algorithm.lower()
    if algorithm not in _ALGORITHMS:
        raise UploadRefused(Problem.BAD_REQUEST)
    try:
        digest = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise UploadRefused(Problem.BAD_REQUEST) from None
    if len(digest) != _ALGORITHMS[algorithm](b"").digest_size:
        raise UploadRefused(Problem.BAD_REQUEST)
    return algorithm, digest


def checksum_matches(data: bytes, algorithm: str, digest: bytes) -> bool:
    """Whether ``data`` hashes to ``digest`` under ``algorithm`` (constant-time compare)."""
    return hmac.compare_digest(_ALGORITHMS[algorithm](data).digest(), digest)


class UploadService:
    """Issue upload links, take chunks, and feed finished files into the imaging pipeline."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        keyring: KeyRing,
        blobs: BlobStore,
        attachments: AttachmentService,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        ttl: timedelta = DEFAULT_TTL,
        notifier: UploadNotifier | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.blobs = blobs
        self.attachments = attachments
        self.max_bytes = max_bytes
        self.ttl = ttl
        self.notifier = notifier
        self._key = keyring.derive(HMAC_PURPOSE)
        self._tasks: set[asyncio.Task[None]] = set()
        # one file in memory at a time: a finished upload is held whole while processed
        self._processing = asyncio.Semaphore(1)

    def token_hash(self, token: str) -> str:
        """Hex HMAC-SHA256 of ``token`` under the upload-token key (what the database holds)."""
        return hmac.new(self._key, token.encode("utf-8"), hashlib.sha256).hexdigest()

    # ------------------------------------------------------------------ issuing

    async def issue(self, telegram_id: int, chat_id: int) -> IssuedUpload | None:
        """A new link for the health worker's open draft; None if there is no open draft."""
        await self.expire_stale()
        now = self.clock.now()
        token = new_token()
        async with self.db.transaction() as session:
            user = await session.scalar(select(User).where(User.telegram_id == telegram_id))
            if user is None or not _active_health_worker(user):
                return None
            case = await session.scalar(
                select(Case)
                .where(Case.health_worker_id == user.id, Case.status == CaseStatus.DRAFT)
                .order_by(Case.id.desc())
            )
            if case is None:
                return None
            row = Upload(
                token_hash=self.token_hash(token),
                case_id=case.id,
                user_id=user.id,
                chat_id=chat_id,
                state=UploadState.OPEN.value,
                received=0,
                reported=0,
                result={},
                created_at=now,
                expires_at=now + self.ttl,
            )
            session.add(row)
            await session.flush()
            audit.record(
                session,
                now,
                "upload.issue",
                actor=telegram_id,
                subject=f"upload:{row.id}",
                case_id=case.id,
                expires_at=row.expires_at.isoformat(),
            )
            return IssuedUpload(token=token, upload_id=row.id, expires_at=row.expires_at)

    async def set_status_message(self, upload_id: int, message_id: int) -> None:
        """Remember the chat message that shows this upload's progress (edited later)."""
        async with self.db.transaction() as session:
            await session.execute(
                update(Upload).where(Upload.id == upload_id).values(status_message_id=message_id)
            )

    # ------------------------------------------------------------------ the protocol

    async def status(self, token: str) -> UploadView:
        """The upload behind ``token`` while it may still receive (HEAD, the page)."""
        async with self.db.transaction() as session:
            row, case, user = await self._resolve(session, token)
            return _view(row, case, user)

    async def describe(self, token: str) -> UploadView:
        """The upload behind ``token`` in any state but unknown (for the page after the end)."""
        async with self.db.transaction() as session:
            row = await self._find(session, token)
            if row is None:
                raise UploadRefused(Problem.UNKNOWN)
            case = await session.get(Case, row.case_id)
            user = await session.get(User, row.user_id)
            if case is None or user is None:
                raise UploadRefused(Problem.UNKNOWN)
            return _view(row, case, user)

    async def create(self, token: str, length: int) -> UploadView:
        """Announce the file's length (tus creation); repeating it with the same length is
        harmless (a lost response), another length is a conflict."""
        if length < 1:
            raise UploadRefused(Problem.BAD_REQUEST)
        if length > self.max_bytes:
            raise UploadRefused(Problem.TOO_LARGE)
        now = self.clock.now()
        async with self.db.transaction() as session:
            row, case, user = await self._resolve(session, token)
            if row.state == UploadState.RECEIVING and row.length != length:
                raise UploadRefused(Problem.CONFLICT, row.received)
            if row.state == UploadState.OPEN:
                row.state = UploadState.RECEIVING.value
                row.length = length
                audit.record(
                    session,
                    now,
                    "upload.start",
                    actor=user.telegram_id,
                    subject=f"upload:{row.id}",
                    case_id=row.case_id,
                    length=length,
                )
            return _view(row, case, user)

    async def append(
        self, token: str, offset: int, data: bytes, checksum: tuple[str, bytes]
    ) -> UploadView:
        """Store one chunk at ``offset`` (tus PATCH); returns the upload with its new offset."""
        if len(data) > CHUNK_LIMIT:
            raise UploadRefused(Problem.TOO_LARGE)
        algorithm, digest = checksum
        async with self.db.transaction() as session:
            row, _case, _user = await self._resolve(session, token)
            if row.state != UploadState.RECEIVING or row.length is None:
                raise UploadRefused(Problem.CONFLICT, row.received)
            if offset != row.received:
                raise UploadRefused(Problem.CONFLICT, row.received)
            if offset + len(data) > row.length:
                raise UploadRefused(Problem.TOO_LARGE, row.received)
            upload_id, length = row.id, row.length
        if not data:
            async with self.db.transaction() as session:
                row, case, user = await self._resolve(session, token)
                return _view(row, case, user)
        if not checksum_matches(data, algorithm, digest):
            raise UploadRefused(Problem.CHECKSUM, offset)
        blob = await self.blobs.aput(data, kind=SEGMENT_KIND)
        try:
            view, quarter = await self._advance(upload_id, offset, len(data), length, blob.id)
        except UploadRefused:
            await self.blobs.adelete(blob.id)
            raise
        if quarter and self.notifier is not None:
            await self._notify_progress(view, quarter * 25)
        if view.state is UploadState.PROCESSING:
            self._spawn(self._finish(upload_id))
        return view

    async def _advance(
        self, upload_id: int, offset: int, size: int, length: int, blob_id: str
    ) -> tuple[UploadView, int]:
        """Move the offset past a stored segment, only if nobody moved it meanwhile.

        Returns the upload and the quarter (1..4) newly passed, 0 if none.
        """
        end = offset + size
        state = UploadState.PROCESSING if end == length else UploadState.RECEIVING
        async with self.db.transaction() as session:
            moved = await session.execute(
                update(Upload)
                .where(
                    Upload.id == upload_id,
                    Upload.received == offset,
                    Upload.state == UploadState.RECEIVING.value,
                )
                .values(received=end, state=state.value)
            )
            if moved.rowcount != 1:  # type: ignore[attr-defined]
                current = await session.scalar(
                    select(Upload.received).where(Upload.id == upload_id)
                )
                raise UploadRefused(Problem.CONFLICT, current)
            session.add(
                UploadSegment(upload_id=upload_id, start=offset, size=size, blob_id=blob_id)
            )
            row = await session.get(Upload, upload_id, populate_existing=True)
            case = await session.get(Case, row.case_id) if row else None
            user = await session.get(User, row.user_id) if row else None
            if row is None or case is None or user is None:
                raise UploadRefused(Problem.UNKNOWN)
            quarter = end * 4 // length
            passed = quarter if quarter > row.reported else 0
            if passed:
                row.reported = quarter
            return _view(row, case, user), passed

    # ------------------------------------------------------------------ completion

    async def resume_unfinished(self) -> int:
        """Finished uploads nobody processed (the process stopped meanwhile) are processed
        now, and stale ones expired; how many were taken up. Run when the web side starts."""
        await self.expire_stale()
        cutoff = self.clock.now() - CLAIM_TIMEOUT
        async with self.db.transaction() as session:
            ids = (
                await session.scalars(
                    select(Upload.id).where(
                        Upload.state == UploadState.PROCESSING.value,
                        or_(Upload.finished_at.is_(None), Upload.finished_at < cutoff),
                    )
                )
            ).all()
        for upload_id in ids:
            self._spawn(self._finish(upload_id))
        return len(ids)

    async def _claim(self, upload_id: int) -> bool:
        """Take a finished upload for processing (``finished_at`` holds the claim's time
        until the result replaces it); False if another process holds a fresh claim."""
        now = self.clock.now()
        async with self.db.transaction() as session:
            claimed = await session.execute(
                update(Upload)
                .where(
                    Upload.id == upload_id,
                    Upload.state == UploadState.PROCESSING.value,
                    or_(Upload.finished_at.is_(None), Upload.finished_at < now - CLAIM_TIMEOUT),
                )
                .values(finished_at=now)
            )
            return bool(claimed.rowcount == 1)  # type: ignore[attr-defined]

    async def _finish(self, upload_id: int) -> None:
        """Decrypt the segments into one file, run it through the pipeline, report, clean up."""
        if not await self._claim(upload_id):
            return
        async with self.db.transaction() as session:
            row = await session.get(Upload, upload_id)
            case = await session.get(Case, row.case_id) if row else None
            user = await session.get(User, row.user_id) if row else None
            if row is None or case is None or user is None:
                return
            segments = (
                await session.scalars(
                    select(UploadSegment)
                    .where(UploadSegment.upload_id == upload_id)
                    .order_by(UploadSegment.start)
                )
            ).all()
            pieces = [(s.start, s.size, s.blob_id) for s in segments]
            still_draft = case.status == CaseStatus.DRAFT
            code, case_id, length = case.code, case.id, row.length or 0
        try:
            if not still_draft:
                await self._settle(upload_id, UploadState.EXPIRED, None, {"why": "draft ended"})
                view = await self._view_by_id(upload_id)
                if self.notifier is not None and view is not None:
                    await self.notifier.abandoned(view)
                return
            async with self._processing:
                data = await self._assemble(pieces, length)
                outcome = await self.attachments.add(
                    case_id, code, data, "upload", None, file_unique_id=f"upload:{upload_id}"
                )
                del data
        except Exception:
            log.exception("upload processing failed", extra={"upload_id": upload_id})
            outcome = AttachmentOutcome(ok=False, reason=Reason.CRASHED)
        finally:
            await self._drop_segments(upload_id, [blob for _, _, blob in pieces])
        summary = {"ok": outcome.ok, "kind": outcome.kind, "frames": outcome.frames}
        if outcome.reason is not None:
            summary["reason"] = outcome.reason.value
        state = UploadState.DONE if outcome.ok else UploadState.FAILED
        await self._settle(upload_id, state, outcome.attachment_id, summary)
        view = await self._view_by_id(upload_id)
        if self.notifier is not None and view is not None:
            try:
                await self.notifier.finished(view, outcome)
            except Exception:
                log.exception("upload result not queued", extra={"upload_id": upload_id})

    async def _assemble(self, pieces: list[tuple[int, int, str]], length: int) -> bytes:
        """The plaintext of the segments in order, in one buffer allocated once (no copy);
        IntegrityError if a segment was tampered with."""
        buffer = bytearray(length)
        view = memoryview(buffer)
        filled = 0
        for start, size, blob_id in pieces:
            if start != filled or start + size > length:
                raise ValueError("upload segments are not contiguous")
            chunk = await self.blobs.aget(blob_id)
            if len(chunk) != size:
                raise ValueError("upload segment has the wrong size")
            view[start : start + size] = chunk
            filled += size
        view.release()
        if filled != length:
            raise ValueError("upload is incomplete")
        return buffer  # type: ignore[return-value]  # bytes-like: read only from here on

    async def _settle(
        self,
        upload_id: int,
        state: UploadState,
        attachment_id: int | None,
        result: dict[str, object],
    ) -> None:
        now = self.clock.now()
        async with self.db.transaction() as session:
            row = await session.get(Upload, upload_id)
            if row is None:
                return
            row.state = state.value
            row.attachment_id = attachment_id
            row.result = result
            row.finished_at = now
            audit.record(
                session,
                now,
                f"upload.{state.value}",
                subject=f"upload:{upload_id}",
                case_id=row.case_id,
                attachment_id=attachment_id,
                ok=result.get("ok"),
                kind=result.get("kind"),
                reason=result.get("reason"),
            )

    async def _drop_segments(self, upload_id: int, blob_ids: list[str]) -> None:
        for blob_id in blob_ids:
            await self.blobs.adelete(blob_id)
        async with self.db.transaction() as session:
            await session.execute(delete(UploadSegment).where(UploadSegment.upload_id == upload_id))

    async def _notify_progress(self, view: UploadView, percent: int) -> None:
        assert self.notifier is not None
        try:
            await self.notifier.progress(view, percent)
        except Exception:
            log.exception("upload progress not queued", extra={"upload_id": view.id})

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait until every finished upload went through the pipeline (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # ------------------------------------------------------------------ housekeeping

    async def expire_stale(self) -> int:
        """Uploads past their expiry, or whose draft ended, are expired and their segments
        deleted; how many."""
        now = self.clock.now()
        async with self.db.transaction() as session:
            rows = (
                await session.execute(
                    select(Upload.id, Upload.expires_at, Case.status)
                    .join(Case, Case.id == Upload.case_id)
                    .where(Upload.state.in_([s.value for s in _LIVE]))
                )
            ).all()
            stale = [i for i, expires, status in rows if expires <= now or status != "draft"]
            if not stale:
                return 0
            await session.execute(
                update(Upload)
                .where(Upload.id.in_(stale))
                .values(state=UploadState.EXPIRED.value, finished_at=now)
            )
            for upload_id in stale:
                audit.record(session, now, "upload.expired", subject=f"upload:{upload_id}")
        for upload_id in stale:
            blob_ids = await self._segment_blobs(upload_id)
            await self._drop_segments(upload_id, blob_ids)
        return len(stale)

    async def _segment_blobs(self, upload_id: int) -> list[str]:
        async with self.db.transaction() as session:
            found = await session.scalars(
                select(UploadSegment.blob_id).where(UploadSegment.upload_id == upload_id)
            )
            return list(found.all())

    # ------------------------------------------------------------------ lookups

    async def _find(self, session: AsyncSession, token: str) -> Upload | None:
        if not _TOKEN_RE.fullmatch(token or ""):
            return None
        digest = self.token_hash(token)
        row = await session.scalar(select(Upload).where(Upload.token_hash == digest))
        if row is None or not hmac.compare_digest(row.token_hash, digest):
            return None
        return row

    async def _resolve(self, session: AsyncSession, token: str) -> tuple[Upload, Case, User]:
        """The live upload behind ``token``: UNKNOWN (404) or GONE (410) otherwise."""
        row = await self._find(session, token)
        if row is None:
            raise UploadRefused(Problem.UNKNOWN)
        case = await session.get(Case, row.case_id)
        user = await session.get(User, row.user_id)
        if (
            row.state not in _LIVE
            or row.expires_at <= self.clock.now()
            or case is None
            or case.status != CaseStatus.DRAFT
            or user is None
            or not _active_health_worker(user)
        ):
            raise UploadRefused(Problem.GONE)
        return row, case, user

    async def _view_by_id(self, upload_id: int) -> UploadView | None:
        async with self.db.transaction() as session:
            row = await session.get(Upload, upload_id)
            if row is None:
                return None
            case = await session.get(Case, row.case_id)
            user = await session.get(User, row.user_id)
            if case is None or user is None:
                return None
            return _view(row, case, user)


def _active_health_worker(user: User) -> bool:
    return str(user.role) == Role.HEALTH_WORKER.value and str(user.status) == "active"


def _view(row: Upload, case: Case, user: User) -> UploadView:
    return UploadView(
        id=row.id,
        case_id=case.id,
        case_code=case.code,
        telegram_id=user.telegram_id,
        chat_id=row.chat_id,
        language=user.language or "en",
        status_message_id=row.status_message_id,
        state=UploadState(row.state),
        length=row.length,
        offset=row.received,
        expires_at=row.expires_at,
    )
