"""Intake: kind detection, DICOM/photo/zip/PDF end to end, no identifiers in the result."""

from __future__ import annotations

import io
import pickle
import warnings
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PIL import Image
from pydicom import dcmread
from pydicom.data import get_testdata_file

from bot.imaging.deid import remap_uid
from bot.imaging.errors import ImagingError, Reason
from bot.imaging.intake import IntakeResult, detect_kind, process_attachment, process_in_pool
from bot.imaging.watermark import Watermark
from bot.imaging.worker import WorkerLimits, WorkerPool

KEY = b"intake-case-key"
SECRET_NAME = "Ramesh_Sharmaji_19610412.dcm"


def _check_previews(result: IntakeResult) -> None:
    for preview_set in result.previews:
        for preview, side in ((preview_set.hd, 1280), (preview_set.low, 1280)):
            image = Image.open(io.BytesIO(preview.data))
            assert image.format == "JPEG"
            assert max(image.size) <= side
            assert len(image.getexif()) == 0
            assert preview.width + preview.height <= 10_000


def _pickled(result: IntakeResult) -> bytes:
    blob = pickle.dumps(result)
    assert pickle.loads(blob) == result
    return blob


def _identifiers(data: bytes) -> list[bytes]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = dcmread(io.BytesIO(data), force=True)
    found = []
    for keyword in ("PatientName", "PatientID", "InstitutionName", "StudyInstanceUID"):
        value = str(ds.get(keyword, "") or "").strip()
        if len(value) >= 6:
            found.append(value.encode())
    return found


def test_detect_kind() -> None:
    assert detect_kind(b"\x00" * 128 + b"DICM" + b"\x00" * 10) == "dicom"
    assert detect_kind(b"PK\x03\x04rest") == "zip"
    assert detect_kind(b"\xff\xd8\xff\xe0") == "photo"
    assert detect_kind(b"%PDF-1.7\n") == "pdf"
    raw = dcmread(get_testdata_file("CT_small.dcm"))
    buf = io.BytesIO()
    raw.save_as(buf, enforce_file_format=False)  # no preamble, no file meta
    assert detect_kind(buf.getvalue(), "scan.dcm") == "dicom"
    with pytest.raises(ImagingError) as info:
        detect_kind(b"hello, this is text", "notes.dcm", "text/plain")
    assert info.value.reason is Reason.UNSUPPORTED


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_corpus_end_to_end(corpus: Path) -> None:
    failures: dict[str, Reason] = {}
    for path in sorted(corpus.glob("*.dcm")):
        data = path.read_bytes()
        try:
            result = process_attachment(data, SECRET_NAME, "application/dicom", case_key=KEY)
        except ImagingError as exc:
            failures[path.name] = exc.reason
            continue
        assert result.kind == "dicom"
        assert len(result.objects) == 1
        stored = result.objects[0].data
        for value in _identifiers(data):
            assert value not in stored, (path.name, value)
        blob = _pickled(result)
        assert b"Ramesh" not in blob
        for value in _identifiers(data):
            assert value not in blob, (path.name, value)
        _check_previews(result)
        assert result.frames >= 1
        out = dcmread(io.BytesIO(stored))
        assert out.PatientIdentityRemoved == "YES"
        assert result.series_uid == (str(out.get("SeriesInstanceUID", "")) or None)
    assert all(name.startswith("broken_") for name in failures), failures
    assert set(failures.values()) <= {Reason.CORRUPT, Reason.UNSUPPORTED}


def test_multiframe_has_sheet(corpus: Path) -> None:
    result = process_attachment(
        (corpus / "enhanced_mr_10frames.dcm").read_bytes(), "a.dcm", None, case_key=KEY
    )
    assert result.frames == 10
    assert result.previews[0].sheet is not None


def test_burned_in_risk_reported(corpus: Path) -> None:
    result = process_attachment(
        (corpus / "us_palette_color.dcm").read_bytes(), "a.dcm", None, case_key=KEY
    )
    assert result.burned_in_risk is True
    assert result.modality == "US"


def test_broken_files_classified(corpus: Path) -> None:
    for name in ("broken_dx_chest_corrupt_j2k.dcm", "broken_truncated_j2k.dcm"):
        with pytest.raises(ImagingError) as info:
            process_attachment((corpus / name).read_bytes(), name, None, case_key=KEY)
        assert info.value.reason is Reason.CORRUPT


def test_photo_with_gps() -> None:
    image = Image.new("RGB", (2000, 1500), (10, 120, 40))
    exif = Image.Exif()
    exif[0x0110] = "SecretPhone 9"
    exif[0x8825] = {1: "N", 2: (28.0, 36.0, 50.0)}
    buf = io.BytesIO()
    image.save(buf, "JPEG", exif=exif, quality=90)
    result = process_attachment(buf.getvalue(), "IMG_0001.jpg", "image/jpeg", case_key=KEY)
    assert result.kind == "photo"
    assert not result.compressed_suspect
    stored = result.objects[0]
    assert stored.media_type == "image/jpeg"
    assert b"SecretPhone" not in stored.data
    assert len(Image.open(io.BytesIO(stored.data)).getexif()) == 0
    assert Image.open(io.BytesIO(stored.data)).size == (2000, 1500)
    _check_previews(result)
    assert b"SecretPhone" not in _pickled(result)


def test_telegram_compressed_photo() -> None:
    buf = io.BytesIO()
    Image.new("RGB", (1280, 960), (200, 200, 200)).save(buf, "JPEG", quality=87)
    result = process_attachment(buf.getvalue(), "photo.jpg", "image/jpeg", case_key=KEY)
    assert result.compressed_suspect is True


def _zip_of_corpus(corpus: Path) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("DICOMDIR", b"\x00" * 128 + b"DICM")
        zf.write(corpus / "ct_signed_padding.dcm", "DICOM/PAT1/IM1")
        zf.write(corpus / "enhanced_mr_10frames.dcm", "DICOM/PAT1/IM2")
        zf.write(corpus / "broken_truncated_j2k.dcm", "DICOM/PAT1/IM3")
        zf.writestr("autorun.inf", b"[autorun]")
    return buf.getvalue()


def test_zip_study(corpus: Path) -> None:
    data = _zip_of_corpus(corpus)
    result = process_attachment(data, "study.zip", "application/zip", case_key=KEY)
    assert result.kind == "zip"
    assert result.instances == 2
    assert result.failed == 1
    assert result.skipped == 2
    assert len(result.previews) == 2
    names = [o.name for o in result.objects]
    assert all(n.endswith(".dcm") and "PAT1" not in n for n in names)
    blob = _pickled(result)
    for name in ("ct_signed_padding.dcm", "enhanced_mr_10frames.dcm"):
        for value in _identifiers((corpus / name).read_bytes()):
            assert value not in blob
    _check_previews(result)


def test_zip_non_image_dicom_skipped() -> None:
    ct = Path(get_testdata_file("CT_small.dcm")).read_bytes()
    report = dcmread(get_testdata_file("CT_small.dcm"))
    del report.PixelData
    report.SOPInstanceUID = "1.2.826.0.1.3680043.8.498.777"
    buf = io.BytesIO()
    report.save_as(buf, enforce_file_format=True)
    only_report = io.BytesIO()
    with zipfile.ZipFile(only_report, "w") as zf:
        zf.writestr("SR1", buf.getvalue())
    with pytest.raises(ImagingError) as info:
        process_attachment(only_report.getvalue(), "x.zip", None, case_key=KEY)
    assert info.value.reason is Reason.NO_PIXEL_DATA
    mixed = io.BytesIO()
    with zipfile.ZipFile(mixed, "w") as zf:
        zf.writestr("SR1", buf.getvalue())
        zf.writestr("IM1", ct)
    result = process_attachment(mixed.getvalue(), "x.zip", None, case_key=KEY)
    assert result.instances == 1
    assert result.skipped == 1
    assert result.failed == 0


def test_zip_without_dicom() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("notes.txt", "hello")
    with pytest.raises(ImagingError) as info:
        process_attachment(buf.getvalue(), "x.zip", None, case_key=KEY)
    assert info.value.reason is Reason.UNSUPPORTED


def test_pdf() -> None:
    buf = io.BytesIO()
    Image.new("RGB", (600, 800), (255, 255, 255)).save(buf, "PDF")
    result = process_attachment(buf.getvalue(), "report.pdf", "application/pdf", case_key=KEY)
    assert result.kind == "pdf"
    assert result.pages == 1
    assert result.objects[0].media_type == "application/pdf"
    _check_previews(result)


def test_unsupported() -> None:
    with pytest.raises(ImagingError) as info:
        process_attachment(b"GIF89a" + b"\x00" * 100, "a.gif", "image/gif", case_key=KEY)
    assert info.value.reason is Reason.UNSUPPORTED


def test_watermark_passed_through() -> None:
    mark = Watermark(case_code="K7F-3QX", recipient="Dr R", when=datetime(2026, 1, 1, tzinfo=UTC))
    buf = io.BytesIO()
    Image.new("RGB", (800, 600), (0, 0, 0)).save(buf, "PNG")
    plain = process_attachment(buf.getvalue(), "a.png", None, case_key=KEY)
    marked = process_attachment(buf.getvalue(), "a.png", None, case_key=KEY, watermark=mark)
    assert plain.previews[0].hd.data != marked.previews[0].hd.data


@pytest.fixture(scope="module")
def pool() -> Iterator[WorkerPool]:
    with WorkerPool(2, WorkerLimits(timeout_s=60)) as p:
        yield p


@pytest.mark.filterwarnings("ignore::UserWarning")
async def test_through_worker_pool(pool: WorkerPool, corpus: Path) -> None:
    data = (corpus / "ct_signed_padding.dcm").read_bytes()
    result = await process_in_pool(pool, data, "a.dcm", None, case_key=KEY)
    assert result.kind == "dicom"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        original = dcmread(io.BytesIO(data))
    assert result.series_uid == remap_uid(KEY, str(original.SeriesInstanceUID))
    with pytest.raises(ImagingError) as info:
        await process_in_pool(
            pool, (corpus / "broken_truncated_j2k.dcm").read_bytes(), "b.dcm", None, case_key=KEY
        )
    assert info.value.reason is Reason.CORRUPT
