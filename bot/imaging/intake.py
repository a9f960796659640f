"""One attachment in, everything the bot needs out: the single entry point of the pipeline.

:func:`process_attachment` runs *inside* a worker process (see :mod:`bot.imaging.worker`):

1. detect the kind by content (magic bytes; the file name and MIME type are only hints and
   never end up in the output — a file name can hold a patient's name);
2. DICOM: parse, de-identify (PS3.15 Basic Profile, UIDs remapped with the case key),
   render (``dicom_render``) and make previews (``preview``);
   photo: verify, orient, strip metadata, previews, Telegram-compression hint;
   zip / folder export: every DICOM instance de-identified, one preview per series;
   PDF: validated, kept as is, first page previewed when possible;
3. return an :class:`IntakeResult`: de-identified objects for the encrypted store, preview
   JPEGs (1280 and 640 px long side) and metadata. Everything is picklable and free of
   patient identifiers. Failures raise :class:`ImagingError` with a classified reason.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

from PIL import Image
from pydicom.dataset import Dataset

from bot.imaging import dicom_render
from bot.imaging.deid import dataset_to_bytes, deidentify
from bot.imaging.errors import ImagingError, Reason
from bot.imaging.pdf import PdfLimits, inspect_pdf, is_pdf
from bot.imaging.photos import PhotoLimits, load_photo, sniff_photo_format
from bot.imaging.preview import HD, Preview, encode, make_preview, make_previews
from bot.imaging.study_zip import ZipLimits, is_dicom_part10, read_study_zip

if TYPE_CHECKING:
    from bot.imaging.watermark import Watermark
    from bot.imaging.worker import WorkerPool

__all__ = [
    "IntakeLimits",
    "IntakeResult",
    "Kind",
    "PreviewSet",
    "StoredObject",
    "detect_kind",
    "process_attachment",
    "process_in_pool",
]

Kind = Literal["dicom", "photo", "zip", "pdf"]

DICOM_MEDIA_TYPE = "application/dicom"


@dataclass(frozen=True)
class IntakeLimits:
    """All limits of the intake stage, per kind of input."""

    max_dicom_bytes: int = 512 * 1024 * 1024
    max_series_previews: int = 12
    photo: PhotoLimits = field(default_factory=PhotoLimits)
    archive: ZipLimits = field(default_factory=ZipLimits)
    pdf: PdfLimits = field(default_factory=PdfLimits)


@dataclass(frozen=True)
class StoredObject:
    """A file for the encrypted store: a generated name (never the upload's), bytes, type."""

    name: str
    data: bytes
    media_type: str
    series_uid: str | None = None
    sop_instance_uid: str | None = None


@dataclass(frozen=True)
class PreviewSet:
    """Previews of one image or series: HD (1280 px), low (640 px), contact sheet if cine."""

    hd: Preview
    low: Preview
    sheet: Preview | None = None
    series_uid: str | None = None
    modality: str = ""
    frames: int = 1
    photometric: str = ""


@dataclass(frozen=True)
class IntakeResult:
    """What one attachment became; no patient identifier anywhere in it."""

    kind: Kind
    objects: list[StoredObject]
    previews: list[PreviewSet]
    modality: str | None = None
    frames: int = 1
    series_uid: str | None = None
    burned_in_risk: bool = False
    compressed_suspect: bool = False
    pages: int | None = None
    instances: int = 0
    series_count: int = 0
    skipped: int = 0
    failed: int = 0

    @property
    def preview(self) -> PreviewSet | None:
        """The first preview set (what the chat shows)."""
        return self.previews[0] if self.previews else None


def _bare_dicom(head: bytes) -> bool:
    """A dataset without preamble: group 0x0002/0x0008 first, explicit or implicit VR LE."""
    if len(head) < 8:
        return False
    group = int.from_bytes(head[0:2], "little")
    element = int.from_bytes(head[2:4], "little")
    if group not in (0x0002, 0x0008) or element > 0x0100:
        return False
    vr = head[4:6]
    return (vr.isalpha() and vr.isupper()) or int.from_bytes(head[4:8], "little") < 0x10000


def detect_kind(data: bytes, filename: str = "", mime: str | None = None) -> Kind:
    """The kind of an attachment from its first bytes; raise ``UNSUPPORTED`` otherwise."""
    if is_dicom_part10(data[:132]):
        return "dicom"
    if data[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return "zip"
    if sniff_photo_format(data) is not None:
        return "photo"
    if is_pdf(data):
        return "pdf"
    hinted = filename.lower().endswith((".dcm", ".dicom")) or (mime or "") == DICOM_MEDIA_TYPE
    if _bare_dicom(data[:16]) and (hinted or data[:2] in (b"\x08\x00", b"\x02\x00")):
        return "dicom"
    raise ImagingError(Reason.UNSUPPORTED, "unknown file type")


# ------------------------------------------------------------------------------ DICOM


@dataclass
class _Instance:
    stored: StoredObject
    dataset: Dataset
    burned_in_risk: bool


def _deid_instance(data: bytes, case_key: bytes, name: str) -> _Instance:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = dicom_render.load(data)
        result = deidentify(ds, case_key, in_place=True)
        out = dataset_to_bytes(result.dataset)
    series = str(ds.get("SeriesInstanceUID", "") or "") or None
    sop = str(ds.get("SOPInstanceUID", "") or "") or None
    stored = StoredObject(name, out, DICOM_MEDIA_TYPE, series, sop)
    return _Instance(stored, result.dataset, result.burned_in_risk)


def _previews(image: Image.Image, watermark: Watermark | None, **meta: Any) -> PreviewSet:
    pair = make_previews(image, watermark=watermark)
    return PreviewSet(hd=pair["hd"], low=pair["low"], **meta)


def _render_previews(ds: Dataset, watermark: Watermark | None) -> PreviewSet:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rendered = dicom_render.render(ds)
    sheet = None
    if rendered.contact_sheet is not None:
        sheet = make_preview(rendered.contact_sheet, max_side=HD, watermark=watermark)
    return _previews(
        rendered.image,
        watermark,
        sheet=sheet,
        series_uid=str(ds.get("SeriesInstanceUID", "") or "") or None,
        modality=rendered.modality,
        frames=rendered.frames,
        photometric=rendered.photometric,
    )


def _process_dicom(
    data: bytes, case_key: bytes, limits: IntakeLimits, watermark: Watermark | None
) -> IntakeResult:
    if len(data) > limits.max_dicom_bytes:
        raise ImagingError(Reason.TOO_LARGE, f"DICOM file of {len(data)} bytes")
    inst = _deid_instance(data, case_key, "0001.dcm")
    previews = _render_previews(inst.dataset, watermark)
    return IntakeResult(
        kind="dicom",
        objects=[inst.stored],
        previews=[previews],
        modality=previews.modality or None,
        frames=previews.frames,
        series_uid=inst.stored.series_uid,
        burned_in_risk=inst.burned_in_risk,
        instances=1,
        series_count=1,
    )


def _process_zip(
    data: bytes, case_key: bytes, limits: IntakeLimits, watermark: Watermark | None
) -> IntakeResult:
    study = read_study_zip(data, limits=limits.archive)
    if not study.series:
        raise ImagingError(Reason.UNSUPPORTED, "no DICOM files in the archive")
    objects: list[StoredObject] = []
    previews: list[PreviewSet] = []
    failed = 0
    skipped = study.skipped
    risk = False
    first_error: ImagingError | None = None
    for s_index, series in enumerate(study.series, start=1):
        count = len(series.instances)
        shown_ds: Dataset | None = None  # only the middle instance stays parsed
        done = 0
        for i_index in range(count):
            raw, series.instances[i_index] = series.instances[i_index], b""  # free as we go
            name = f"s{s_index:03d}/{i_index + 1:05d}.dcm"
            try:
                inst = _deid_instance(raw, case_key, name)
            except ImagingError as exc:
                if exc.reason is Reason.NO_PIXEL_DATA:
                    skipped += 1  # dose reports, presentation states, key objects on a CD
                    continue
                failed += 1
                first_error = first_error or exc
                continue
            del raw
            objects.append(inst.stored)
            risk = risk or inst.burned_in_risk
            done += 1
            if shown_ds is None or i_index <= count // 2:
                shown_ds = inst.dataset
        series.instances.clear()
        if shown_ds is None or len(previews) >= limits.max_series_previews:
            continue
        try:
            shown = _render_previews(shown_ds, watermark)
        except ImagingError as exc:
            first_error = first_error or exc
            continue
        if shown.frames == 1:
            shown = replace(shown, frames=done)
        previews.append(shown)
    if not objects:
        raise first_error or ImagingError(Reason.NO_PIXEL_DATA, "no images in the archive")
    first = previews[0] if previews else None
    return IntakeResult(
        kind="zip",
        objects=objects,
        previews=previews,
        modality=first.modality if first else None,
        frames=first.frames if first else 1,
        series_uid=first.series_uid if first else objects[0].series_uid,
        burned_in_risk=risk,
        instances=len(objects),
        series_count=len({o.series_uid for o in objects}),
        skipped=skipped,
        failed=failed,
    )


# ------------------------------------------------------------------------- photo, PDF


def _process_photo(data: bytes, limits: IntakeLimits, watermark: Watermark | None) -> IntakeResult:
    photo = load_photo(data, limits=limits.photo)
    if photo.original_format == "PNG":
        clean, name, media = encode(photo.image, "png"), "photo.png", "image/png"
    else:
        clean, name, media = encode(photo.image, "jpeg", 92), "photo.jpg", "image/jpeg"
    previews = _previews(
        photo.image, watermark, modality="", frames=1, photometric=photo.image.mode
    )
    return IntakeResult(
        kind="photo",
        objects=[StoredObject(name, clean, media)],
        previews=[previews],
        compressed_suspect=photo.compressed_suspect,
        # a photo of a patient or of a labelled film may show identifiers
        burned_in_risk=True,
    )


def _process_pdf(data: bytes, limits: IntakeLimits, watermark: Watermark | None) -> IntakeResult:
    info = inspect_pdf(data, limits=limits.pdf)
    previews = []
    if info.preview is not None:
        previews.append(_previews(info.preview, watermark, modality="", photometric="RGB"))
    return IntakeResult(
        kind="pdf",
        objects=[StoredObject("document.pdf", data, "application/pdf")],
        previews=previews,
        pages=info.pages,
        burned_in_risk=True,  # a report names the patient
    )


# ------------------------------------------------------------------------------- entry


def process_attachment(
    data: bytes,
    filename: str,
    mime: str | None,
    *,
    case_key: bytes,
    limits: IntakeLimits | None = None,
    watermark: Watermark | None = None,
) -> IntakeResult:
    """Turn one uploaded file into stored objects, previews and metadata (see module doc).

    Meant to run in a worker (``await pool.run(process_attachment, …)``). Raises
    :class:`ImagingError`; every other exception is converted to ``CORRUPT``.
    """
    limits = limits or IntakeLimits()
    try:
        kind = detect_kind(data, filename, mime)
        if kind == "dicom":
            return _process_dicom(data, case_key, limits, watermark)
        if kind == "zip":
            return _process_zip(data, case_key, limits, watermark)
        if kind == "photo":
            return _process_photo(data, limits, watermark)
        return _process_pdf(data, limits, watermark)
    except ImagingError as exc:
        raise ImagingError(exc.reason, exc.detail) from None
    except MemoryError:
        raise ImagingError(Reason.TOO_LARGE, "input does not fit in memory") from None
    except RecursionError:
        raise ImagingError(Reason.CORRUPT, "structure nested too deeply") from None
    except Exception as exc:
        raise ImagingError(Reason.CORRUPT, f"unexpected {type(exc).__name__}") from None


async def process_in_pool(
    pool: WorkerPool,
    data: bytes,
    filename: str,
    mime: str | None,
    *,
    case_key: bytes,
    limits: IntakeLimits | None = None,
    watermark: Watermark | None = None,
) -> IntakeResult:
    """:func:`process_attachment` in a worker of ``pool`` (time and memory limited)."""
    return await pool.run(
        process_attachment,
        data,
        filename,
        mime,
        case_key=case_key,
        limits=limits,
        watermark=watermark,
    )
