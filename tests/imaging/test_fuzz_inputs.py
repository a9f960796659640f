"""Property-based robustness: truncated and mutated inputs never crash, always classify.

Every outcome must be either a success or an :class:`ImagingError` with a :class:`Reason`.
Parsers that never decode pixels (DICOM header + de-identification, zip reading, photo
verification) run in-process, so any other exception fails the test; everything that
decodes pixels or runs PDFium goes through the worker pool, as production does.
Example counts are modest so the file runs in well under a minute.
"""

from __future__ import annotations

import io
import os
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from pydicom.data import get_testdata_file

from bot.imaging.deid import dataset_to_bytes, deidentify, read_dicom_bytes
from bot.imaging.errors import ImagingError, Reason
from bot.imaging.intake import IntakeResult, process_attachment
from bot.imaging.photos import Photo, PhotoLimits, load_photo
from bot.imaging.study_zip import Study, ZipLimits, read_study_zip
from bot.imaging.worker import WorkerLimits, WorkerPool

from .conftest import corpus_dir

KEY = b"fuzz-case-key"
#: ``SAMPARK_FUZZ_EXAMPLES=500`` explores more (and randomly); the default is quick and fixed
_EXAMPLES = int(os.environ.get("SAMPARK_FUZZ_EXAMPLES", "0") or 0)
FUZZ = settings(
    max_examples=_EXAMPLES or 40,
    deadline=None,
    derandomize=not _EXAMPLES,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

# ------------------------------------------------------------------------------ seeds


def _dicom_seeds() -> list[bytes]:
    seeds = [Path(get_testdata_file("CT_small.dcm")).read_bytes()]
    corpus = corpus_dir()
    if corpus is not None:
        for name in (
            "enhanced_mr_10frames.dcm",
            "us_ybr_rct_j2k.dcm",
            "ct_chest_jpegls_nowindow.dcm",
        ):
            path = corpus / name
            if path.exists():
                seeds.append(path.read_bytes())
    return seeds


def _photo_seeds() -> list[bytes]:
    rng = np.random.default_rng(7)
    image = Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8), "RGB")
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x8825] = {1: "N", 2: (28.0, 36.0, 50.0)}
    jpeg, png = io.BytesIO(), io.BytesIO()
    image.save(jpeg, "JPEG", quality=80, exif=exif)
    image.save(png, "PNG")
    return [jpeg.getvalue(), png.getvalue()]


def _zip_seed() -> bytes:
    buf = io.BytesIO()
    ct = Path(get_testdata_file("CT_small.dcm")).read_bytes()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("DICOMDIR", b"\x00" * 128 + b"DICM")
        zf.writestr("DICOM/IM1", ct)
        zf.writestr("DICOM/IM2", ct)
        zf.writestr("README.TXT", b"hello")
    return buf.getvalue()


def _pdf_seed() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (60, 40), (200, 10, 10)).save(buf, "PDF")
    return buf.getvalue()


DICOM_SEEDS = _dicom_seeds()
PHOTO_SEEDS = _photo_seeds()
ZIP_SEED = _zip_seed()
PDF_SEED = _pdf_seed()

# -------------------------------------------------------------------------- mutations


@st.composite
def mutated(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    """A seed truncated, with bytes overwritten (biased to the header), or with an insert."""
    data = bytearray(draw(st.sampled_from(seeds)))
    how = draw(st.sampled_from(["truncate", "overwrite", "insert", "both"]))
    if how in ("overwrite", "both"):
        head = min(len(data), 4096)
        positions = draw(
            st.lists(
                st.one_of(st.integers(0, head - 1), st.integers(0, len(data) - 1)),
                min_size=1,
                max_size=12,
            )
        )
        for pos in positions:
            data[pos] = draw(st.integers(0, 255))
    if how == "insert":
        pos = draw(st.integers(0, len(data)))
        data[pos:pos] = draw(st.binary(min_size=1, max_size=64))
    if how in ("truncate", "both"):
        data = data[: draw(st.integers(0, len(data)))]
    return bytes(data)


def _classified(call: object, *args: object, **kwargs: object) -> object:
    """Run ``call``; an ImagingError is a fine outcome, anything else propagates."""
    try:
        return call(*args, **kwargs)  # type: ignore[operator]
    except ImagingError as exc:
        outcome = exc
    assert isinstance(outcome.reason, Reason)
    assert "Traceback" not in str(outcome)
    return outcome


@pytest.fixture(scope="module")
def pool() -> Iterator[WorkerPool]:
    limits = WorkerLimits(timeout_s=20, memory_bytes=2 * 1024 * 1024 * 1024)
    with WorkerPool(2, limits) as p:
        yield p


# ------------------------------------------------------------------------------ tests


def _deid_round_trip(data: bytes) -> bytes:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = read_dicom_bytes(data)
        return dataset_to_bytes(deidentify(ds, KEY, in_place=True).dataset)


@FUZZ
@given(data=mutated(DICOM_SEEDS))
def test_dicom_header_and_deid_in_process(data: bytes) -> None:
    outcome = _classified(_deid_round_trip, data)
    if isinstance(outcome, bytes):
        assert outcome[128:132] == b"DICM"


@FUZZ
@given(data=mutated(DICOM_SEEDS))
def test_dicom_intake_in_worker(pool: WorkerPool, data: bytes) -> None:
    outcome = _classified(pool.call, process_attachment, data, "x.dcm", None, case_key=KEY)
    if isinstance(outcome, IntakeResult):
        assert outcome.kind in ("dicom", "photo", "zip", "pdf")


@FUZZ
@given(data=mutated(PHOTO_SEEDS))
def test_photos_in_process(data: bytes) -> None:
    outcome = _classified(load_photo, data, limits=PhotoLimits(max_pixels=4_000_000))
    if isinstance(outcome, Photo):
        assert not outcome.image.info
        assert outcome.image.mode in ("L", "RGB")


@FUZZ
@given(data=mutated([ZIP_SEED]))
def test_zip_in_process(data: bytes) -> None:
    limits = ZipLimits(max_total_bytes=8 * 1024 * 1024, max_entry_bytes=4 * 1024 * 1024)
    outcome = _classified(read_study_zip, data, limits=limits)
    if isinstance(outcome, Study):
        assert outcome.instance_count <= 2


@FUZZ
@given(data=mutated([ZIP_SEED, PDF_SEED, *PHOTO_SEEDS]))
def test_any_attachment_in_worker(pool: WorkerPool, data: bytes) -> None:
    outcome = _classified(pool.call, process_attachment, data, "upload", None, case_key=KEY)
    if isinstance(outcome, IntakeResult):
        assert outcome.objects


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    prefix=st.sampled_from(
        [b"", b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"PK\x03\x04", b"%PDF-1.7"]
    ),
    body=st.binary(max_size=512),
)
def test_random_bytes_in_process_detection(prefix: bytes, body: bytes) -> None:
    # photos, zips and random junk are safe to try in-process; PDFs only detected
    from bot.imaging.intake import detect_kind

    data = prefix + body
    kind = _classified(detect_kind, data, "f", None)
    if kind == "photo":
        _classified(load_photo, data)
    elif kind == "zip":
        _classified(read_study_zip, data)
