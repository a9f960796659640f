"""Attachments: untrusted files → the imaging pipeline (in worker processes) → encrypted store.

Every file gets an outcome the handler can show: processed (with a small preview) or
refused with a classified reason. Nothing here blocks the event loop: decoding runs in
the worker pool, encryption and disk writes in threads.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from bot.clock import Clock
from bot.imaging.errors import ImagingError, Reason
from bot.imaging.intake import IntakeResult, process_in_pool
from bot.imaging.recipient import watermarked
from bot.imaging.watermark import Watermark
from bot.imaging.worker import WorkerPool
from bot.security.blobstore import BlobStore
from bot.security.keys import KeyRing
from bot.storage.database import Database
from bot.storage.models import Attachment, Case

log = logging.getLogger(__name__)

#: Telegram's bot download limit: larger files must come through an upload link.
MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024


@dataclass(frozen=True)
class AttachmentOutcome:
    """What became of one file."""

    ok: bool
    kind: str = ""
    reason: Reason | None = None
    thumbnail: bytes | None = None  # the low-bandwidth preview, for the sender's feedback
    compressed_suspect: bool = False
    burned_in_risk: bool = False
    modality: str | None = None
    frames: int = 1
    duplicate: bool = False
    attachment_id: int | None = None


@dataclass(frozen=True)
class PreviewBlob:
    """One preview of a case, as stored (decrypt with ``preview_bytes``)."""

    attachment_id: int
    kind: str
    blob_id: str
    low_blob_id: str
    meta: dict[str, Any] = field(default_factory=dict)


def series_ordinals(series_uids: list[str | None]) -> list[int]:
    """Each object's series as a small number, in order of first appearance (no UIDs kept)."""
    seen: dict[str | None, int] = {}
    return [seen.setdefault(uid, len(seen)) for uid in series_uids]


class AttachmentService:
    def __init__(
        self, db: Database, clock: Clock, blobs: BlobStore, pool: WorkerPool, keyring: KeyRing
    ) -> None:
        self.db = db
        self.clock = clock
        self.blobs = blobs
        self.pool = pool
        self._uid_key = keyring.derive(b"uid-remap")

    def case_key(self, code: str) -> bytes:
        """The per-case key for deterministic UID remapping (stable across key rotation)."""
        return hmac.new(self._uid_key, code.encode(), hashlib.sha256).digest()

    async def add(
        self,
        case_id: int,
        code: str,
        data: bytes,
        filename: str,
        mime: str | None,
        *,
        file_unique_id: str | None = None,
    ) -> AttachmentOutcome:
        """Process and store one file; a repeat of the same Telegram file is not stored twice."""
        if file_unique_id and await self._seen(case_id, file_unique_id):
            return AttachmentOutcome(ok=True, duplicate=True)
        try:
            result: IntakeResult = await process_in_pool(
                self.pool, data, filename, mime, case_key=self.case_key(code)
            )
        except ImagingError as exc:
            log.info("attachment refused", extra={"case_id": case_id, "reason": exc.reason})
            await self._record_failure(case_id, exc.reason, file_unique_id)
            return AttachmentOutcome(ok=False, reason=exc.reason)
        objects = [await self.blobs.aput(o.data, kind=o.media_type) for o in result.objects]
        previews = []
        for preview in result.previews:
            hd = await self.blobs.aput(preview.hd.data, kind=preview.hd.mime)
            low = await self.blobs.aput(preview.low.data, kind=preview.low.mime)
            previews.append(
                {"hd": hd.id, "low": low.id, "modality": preview.modality, "frames": preview.frames}
            )
        async with self.db.transaction() as session:
            row = Attachment(
                case_id=case_id,
                kind=result.kind,
                status="ready",
                telegram_file_unique_id=file_unique_id,
                original_blob=objects[0].id if objects else None,
                preview_blob=previews[0]["low"] if previews else None,
                preview_hd_blob=previews[0]["hd"] if previews else None,
                meta={
                    "objects": [o.id for o in objects],
                    # which series each object belongs to (0, 1, … in order of appearance):
                    # the viewer groups a study's slices without opening every object
                    "object_series": series_ordinals([o.series_uid for o in result.objects]),
                    "previews": previews,
                    "modality": result.modality,
                    "frames": result.frames,
                    "burned_in_risk": result.burned_in_risk,
                    "compressed_suspect": result.compressed_suspect,
                    "instances": result.instances,
                },
                created_at=self.clock.now(),
            )
            session.add(row)
            await session.flush()
        first = result.preview
        return AttachmentOutcome(
            ok=True,
            kind=result.kind,
            thumbnail=first.low.data if first else None,
            compressed_suspect=result.compressed_suspect,
            burned_in_risk=result.burned_in_risk,
            modality=result.modality,
            frames=result.frames,
            attachment_id=row.id,
        )

    async def add_voice(
        self, case_id: int, data: bytes, duration: int, *, file_unique_id: str | None = None
    ) -> AttachmentOutcome:
        """Keep a voice note (history or answer) encrypted, as sent."""
        if file_unique_id and await self._seen(case_id, file_unique_id):
            return AttachmentOutcome(ok=True, kind="voice", duplicate=True)
        blob = await self.blobs.aput(data, kind="audio/ogg")
        async with self.db.transaction() as session:
            row = Attachment(
                case_id=case_id,
                kind="voice",
                status="ready",
                telegram_file_unique_id=file_unique_id,
                original_blob=blob.id,
                meta={"duration": duration, "objects": [blob.id]},
                created_at=self.clock.now(),
            )
            session.add(row)
            await session.flush()
        return AttachmentOutcome(ok=True, kind="voice", attachment_id=row.id)

    async def case_code(self, case_id: int) -> str | None:
        """The code of the case a file is for (it keys the UID remapping)."""
        async with self.db.transaction() as session:
            return await session.scalar(select(Case.code).where(Case.id == case_id))

    async def stored(self, attachment_id: int) -> tuple[str, str | None, int] | None:
        """(kind, first HD preview blob or voice blob, duration) of one attachment."""
        async with self.db.transaction() as session:
            row = await session.get(Attachment, attachment_id)
            if row is None or row.status != "ready":
                return None
            blob = row.original_blob if row.kind == "voice" else row.preview_hd_blob
            return row.kind, blob, int((row.meta or {}).get("duration", 0))

    async def previews(self, case_id: int) -> list[PreviewBlob]:
        """Every stored preview of a case, in the order the files arrived."""
        async with self.db.transaction() as session:
            rows = await session.scalars(
                select(Attachment)
                .where(Attachment.case_id == case_id, Attachment.status == "ready")
                .order_by(Attachment.id)
            )
            found = []
            for row in rows:
                for preview in (row.meta or {}).get("previews", []):
                    found.append(
                        PreviewBlob(row.id, row.kind, preview["hd"], preview["low"], dict(row.meta))
                    )
            return found

    async def voices(self, case_id: int) -> list[tuple[str, int]]:
        """The case's voice notes as (blob id, duration)."""
        async with self.db.transaction() as session:
            rows = await session.scalars(
                select(Attachment)
                .where(Attachment.case_id == case_id, Attachment.kind == "voice")
                .order_by(Attachment.id)
            )
            return [(r.original_blob or "", int(r.meta.get("duration", 0))) for r in rows]

    async def watermarked(self, blob_id: str, watermark: Watermark) -> bytes:
        """A stored preview with this recipient's visible watermark (rendered in a worker)."""
        data = await self.blobs.aget(blob_id)
        return await self.pool.run(watermarked, data, watermark)

    async def _seen(self, case_id: int, file_unique_id: str) -> bool:
        async with self.db.transaction() as session:
            return bool(
                await session.scalar(
                    select(Attachment.id).where(
                        Attachment.case_id == case_id,
                        Attachment.telegram_file_unique_id == file_unique_id,
                        Attachment.status == "ready",
                    )
                )
            )

    async def _record_failure(
        self, case_id: int, reason: Reason, file_unique_id: str | None
    ) -> None:
        async with self.db.transaction() as session:
            session.add(
                Attachment(
                    case_id=case_id,
                    kind="unknown",
                    status="failed",
                    failure=reason.value,
                    telegram_file_unique_id=file_unique_id,
                    meta={},
                    created_at=self.clock.now(),
                )
            )
