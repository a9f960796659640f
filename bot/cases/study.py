"""A case's study as the viewer shows it: series, frames rendered on demand, zip entries.

Series come from the case's ready attachments: each DICOM series of an attachment (its
objects grouped by ``meta["object_series"]``; older rows without it count as one series)
and each photo or PDF page preview. Series ids are ``a<attachment>s<n>`` — no UID, nothing
of the patient. A series of one multi-frame object shows that object's frames; a series of
several objects shows frame 0 of each, in the order intake sorted them (slice position).

Rendering runs in the imaging worker pool (:mod:`bot.imaging.viewer_frames`). Results are
kept in a bounded in-memory cache (decrypted but de-identified JPEGs, never written to
disk), concurrent requests for the same frame share one render, and a series' description
also renders its first frame, so the first image is ready when the page asks for it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from sqlalchemy import select

from bot.cases.views import CaseView, case_view
from bot.imaging import viewer_frames
from bot.imaging.errors import ImagingError
from bot.imaging.viewer_frames import SeriesInfo, Size
from bot.imaging.worker import WorkerPool
from bot.security.blobstore import BlobStore
from bot.storage.database import Database
from bot.storage.models import Attachment, Case

log = logging.getLogger(__name__)

T = TypeVar("T")

INDEX_TTL_SECONDS = 30.0
FRAME_CACHE_BYTES = 64 * 1024 * 1024
DICOM_KINDS = frozenset({"dicom", "zip"})
PICTURE_KINDS = frozenset({"photo", "pdf"})


@dataclass(frozen=True)
class Series:
    """One series of a case's study, as listed by the viewer."""

    id: str
    kind: Literal["dicom", "picture"]
    objects: tuple[str, ...]  # blob ids: DICOM objects, or one preview picture
    frames: int
    width: int
    height: int
    modality: str | None
    grayscale: bool
    window: tuple[float, float] | None  # default (centre, width); None: colour or VOI LUT
    burned_in_risk: bool
    #: intake's previews (low, hd blob ids) of a one-frame series: its default view comes
    #: from the HD one without decoding the object again (a J2K film takes a second)
    previews: tuple[str, str] | None = None

    def source(self, index: int) -> tuple[str, int]:
        """The blob and the frame within it that show frame ``index`` of the series."""
        if len(self.objects) == 1:
            return self.objects[0], index
        return self.objects[index], 0


@dataclass(frozen=True)
class Study:
    """A case's viewable study."""

    case_id: int
    series: tuple[Series, ...]
    downloads: tuple[tuple[str, str], ...]  # (name inside the zip, blob id)

    @property
    def burned_in_risk(self) -> bool:
        return any(s.burned_in_risk for s in self.series)

    def find(self, series_id: str) -> Series | None:
        return next((s for s in self.series if s.id == series_id), None)


class StudyService:
    """Lists a case's series and renders their frames (see the module docstring)."""

    def __init__(
        self,
        db: Database,
        blobs: BlobStore,
        pool: WorkerPool,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db = db
        self.blobs = blobs
        self.pool = pool
        self._monotonic = monotonic
        self._described: dict[tuple[int, int], SeriesInfo | tuple[int, int]] = {}
        self._studies: dict[int, tuple[float, Study]] = {}
        self._unviewable: set[tuple[int, int]] = set()
        self._frames: OrderedDict[tuple[Any, ...], bytes] = OrderedDict()
        self._frame_bytes = 0
        self._inflight: dict[tuple[Any, ...], asyncio.Future[Any]] = {}

    # ------------------------------------------------------------------ reading

    async def case(self, case_id: int) -> CaseView | None:
        """The case (no identifiers), or None."""
        async with self.db.sessions() as session:
            row = await session.get(Case, case_id)
            return case_view(row) if row is not None else None

    async def study(self, case_id: int) -> Study:
        """The case's series (cached for a short while: attachments only ever get added)."""
        cached = self._studies.get(case_id)
        if cached is not None and self._monotonic() - cached[0] < INDEX_TTL_SECONDS:
            return cached[1]
        study = await self._shared(("study", case_id), lambda: self._build(case_id))
        self._studies[case_id] = (self._monotonic(), study)
        return study

    async def _build(self, case_id: int) -> Study:
        async with self.db.sessions() as session:
            rows = list(
                await session.scalars(
                    select(Attachment)
                    .where(Attachment.case_id == case_id, Attachment.status == "ready")
                    .order_by(Attachment.id)
                )
            )
        series: list[Series] = []
        downloads: list[tuple[str, str]] = []
        folders = 0
        for row in rows:
            meta = dict(row.meta or {})
            risk = bool(meta.get("burned_in_risk"))
            if row.kind in DICOM_KINDS:
                groups = _grouped(meta)
                previews = meta.get("previews", [])
                for ordinal, objects in groups.items():
                    shown = None
                    if len(groups) == len(previews) and len(objects) == 1:
                        shown = (str(previews[ordinal]["low"]), str(previews[ordinal]["hd"]))
                    entry = await self._dicom_series(row.id, ordinal, objects, risk, shown)
                    if entry is not None:  # one we cannot show is still in the download
                        series.append(entry)
                    folders += 1
                    folder = f"S{folders:02d}"
                    downloads += [
                        (f"{folder}/{n:05d}.dcm", blob) for n, blob in enumerate(objects, 1)
                    ]
            elif row.kind in PICTURE_KINDS:
                for n, preview in enumerate(meta.get("previews", [])):
                    entry = await self._picture_series(row.id, n, str(preview["hd"]), risk)
                    series.append(entry)
                if row.kind == "photo" and meta.get("objects"):
                    blob = str(meta["objects"][0])
                    kind = (await asyncio.to_thread(self.blobs.stat, blob)).kind
                    suffix = "png" if kind == "image/png" else "jpg"
                    downloads.append((f"photos/{row.id}.{suffix}", blob))
        return Study(case_id, tuple(series), tuple(downloads))

    async def _dicom_series(
        self,
        attachment_id: int,
        ordinal: int,
        objects: list[str],
        risk: bool,
        previews: tuple[str, str] | None,
    ) -> Series | None:
        key = (attachment_id, ordinal)
        if key in self._unviewable:
            return None
        info = self._described.get(key)
        if info is None:
            first = objects[0]
            try:
                data = await self.blobs.aget(first)
                info = await self.pool.run(
                    viewer_frames.describe_dicom, first, data, render_first=previews is None
                )
            except ImagingError as exc:  # cannot be rendered: left out of the viewer for good
                log.warning("series not viewable", extra={"reason": exc.reason.value})
                self._unviewable.add(key)
                return None
            except Exception as exc:  # storage or workers failing now: try again next time
                log.warning("series not described", extra={"error": type(exc).__name__})
                return None
            assert isinstance(info, SeriesInfo)
            if info.low is not None and info.full is not None:
                self._remember(first, 0, "low", info.window, False, info.low)
                self._remember(first, 0, "full", info.window, False, info.full)
            self._described[key] = info
        assert isinstance(info, SeriesInfo)
        if info.frames != 1 or info.low is not None:
            previews = None
        return Series(
            id=f"a{attachment_id}s{ordinal}",
            kind="dicom",
            objects=tuple(objects),
            frames=info.frames if len(objects) == 1 else len(objects),
            width=info.width,
            height=info.height,
            modality=info.modality,
            grayscale=info.grayscale,
            window=info.window,
            burned_in_risk=risk,
            previews=previews,
        )

    async def _picture_series(self, attachment_id: int, n: int, blob_id: str, risk: bool) -> Series:
        key = (attachment_id, -1 - n)
        size = self._described.get(key)
        if not isinstance(size, tuple):
            data = await self.blobs.aget(blob_id)
            size = await self.pool.run(viewer_frames.picture_size, data)
            self._described[key] = size
        return Series(
            id=f"a{attachment_id}p{n}",
            kind="picture",
            objects=(blob_id,),
            frames=1,
            width=size[0],
            height=size[1],
            modality=None,
            grayscale=False,
            window=None,
            burned_in_risk=risk,
        )

    # ------------------------------------------------------------------ rendering

    async def frame(
        self,
        series: Series,
        index: int,
        size: Size,
        *,
        window: tuple[float, float] | None = None,
        invert: bool = False,
    ) -> bytes:
        """Frame ``index`` (0-based, checked by the caller) as JPEG.

        ``window`` None means the series' default; pictures ignore it.
        """
        blob_id, frame = series.source(index)
        if series.kind == "picture" or not series.grayscale:
            window = None
        elif window is None:
            window = series.window
        key = (blob_id, frame, size, window, invert)
        cached = self._frames.get(key)
        if cached is not None:
            self._frames.move_to_end(key)
            return cached

        async def render() -> bytes:
            if series.previews is not None and window == series.window and not invert:
                made = await self.blobs.aget(series.previews[1])  # HD, 1280 px
                if size == "low":  # re-encoded smaller from HD: ~20 KB instead of ~30
                    made = await self.pool.run(viewer_frames.render_picture, made, "low")
                self._remember(blob_id, frame, size, window, invert, made)
                return made
            data = await self.blobs.aget(blob_id)
            if series.kind == "picture":
                out = await self.pool.run(viewer_frames.render_picture, data, size, invert=invert)
            else:
                out = await self.pool.run(
                    viewer_frames.render_dicom_frame,
                    blob_id,
                    data,
                    frame,
                    size,
                    window=window,
                    invert=invert,
                )
            assert isinstance(out, bytes)
            self._remember(blob_id, frame, size, window, invert, out)
            return out

        return await self._shared(("frame", *key), render)

    def _remember(
        self,
        blob_id: str,
        frame: int,
        size: str,
        window: tuple[float, float] | None,
        invert: bool,
        data: bytes,
    ) -> None:
        key = (blob_id, frame, size, window, invert)
        if key in self._frames:
            return
        self._frames[key] = data
        self._frame_bytes += len(data)
        while self._frame_bytes > FRAME_CACHE_BYTES and self._frames:
            _, old = self._frames.popitem(last=False)
            self._frame_bytes -= len(old)

    async def _shared(self, key: tuple[Any, ...], work: Callable[[], Awaitable[T]]) -> T:
        """Run ``work`` once for concurrent callers with the same ``key``; a caller that
        goes away (a closed connection) does not cancel it for the others."""
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.ensure_future(work())
            self._inflight[key] = task
            task.add_done_callback(lambda _done: self._inflight.pop(key, None))
        result: T = await asyncio.shield(task)
        return result


def _grouped(meta: dict[str, Any]) -> dict[int, list[str]]:
    """The attachment's DICOM objects by series ordinal, in stored order."""
    objects = [str(o) for o in meta.get("objects", [])]
    ordinals = meta.get("object_series")
    if not isinstance(ordinals, list) or len(ordinals) != len(objects):
        ordinals = [0] * len(objects)
    groups: dict[int, list[str]] = {}
    for blob, ordinal in zip(objects, ordinals, strict=True):
        groups.setdefault(int(ordinal), []).append(blob)
    return groups
