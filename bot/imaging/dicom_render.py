"""DICOM to an 8-bit display image: the grayscale pipeline of PS3.4 N.2, colour, multi-frame.

Every function is named after the concept of the standard it implements:

* bits and sign (PS3.5 8.1.1, PS3.3 C.7.6.3.1.1) are handled by the pixel decoders;
* :func:`pixel_padding_range` – Pixel Padding Value / Range Limit (PS3.3 C.7.5.1.1.2);
* :func:`modality_lut` – Modality LUT Sequence or Rescale Slope/Intercept (PS3.3 C.11.1);
* :func:`select_voi` / :func:`voi_window` / :func:`voi_lut` – VOI LUT (PS3.3 C.11.2);
* :func:`presentation_inverts` – Presentation LUT Shape and MONOCHROME1 (PS3.3 C.11.6, C.7.6.3.1.2);
* :func:`frame_attributes` – Shared / Per-Frame Functional Groups (PS3.3 C.7.6.16);
* :func:`color_frame` – RGB, YBR_*, Planar Configuration, PALETTE COLOR (PS3.3 C.7.6.3.1.2,
  C.7.6.3.1.3, C.7.6.3.1.5, C.7.9);
* :func:`supplemental_palette` – Supplemental Palette Color LUT on grayscale (PS3.3 C.7.6.19);
* :func:`render` / :func:`render_series` – representative frame and contact sheet, decoding
  only the frames shown.

Speed: stored values are at most 16 bits, so the whole grayscale chain (modality → VOI →
presentation → padding) is evaluated once over every *possible* stored value into a 64 Ki
entry ``uint8`` table and applied with one ``np.take``; statistics come from a histogram.

Decoders: python-gdcm (BSD) first – it decoded 1.4–2.2× faster than the alternatives here
(multi-threaded OpenJPEG) and is our only permissive decoder for JPEG lossless and JPEG-LS –
then pylibjpeg (MIT: openjpeg for JPEG 2000/HTJ2K, rle), then Pillow, then pydicom's own
decoders. pydicom tries the available plugins in that order and falls back to the next on
failure. pylibjpeg-libjpeg is deliberately not used (GPLv3), so 12-bit JPEG Extended, which
only it decodes, fails as ``unsupported``.
"""

from __future__ import annotations

import io
import math
import os
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, BinaryIO, Final

import numpy as np
import pydicom
from PIL import Image, ImageDraw, ImageFont
from pydicom.dataset import Dataset
from pydicom.pixels import get_decoder
from pydicom.pixels.processing import apply_color_lut, convert_color_space

from bot.imaging.errors import ImagingError, Reason

__all__ = [
    "DECODER_ONLY",
    "DECODER_PREFERENCE",
    "MODALITY_PRESETS",
    "Rendered",
    "Window",
    "configure_decoders",
    "load",
    "number_of_frames",
    "render",
    "render_series",
    "window_presets",
]

#: Decoder plugin order (see module docstring): licence first, then measured speed.
DECODER_PREFERENCE: Final[tuple[str, ...]] = ("gdcm", "pylibjpeg", "pillow", "pydicom")
#: 8-bit JPEG goes to Pillow (libjpeg-turbo) alone: identical pixels, 1.4–6× faster than
#: GDCM here, and it raises on corrupt data where GDCM's IJG codec can abort the process
#: (uncaught C++ exception, found by fuzzing). pydicom would otherwise fall back to GDCM
#: with the very stream Pillow rejected.
DECODER_ONLY: Final[dict[str, tuple[str, ...]]] = {
    pydicom.uid.JPEGBaseline8Bit: ("pillow",),
    pydicom.uid.JPEGExtended12Bit: ("pillow",),
}

#: CT window presets, level (centre) / width in HU, for the viewer.
window_presets: Final[dict[str, tuple[float, float]]] = {
    "brain": (40.0, 80.0),
    "subdural": (75.0, 215.0),
    "stroke": (40.0, 40.0),
    "lung": (-600.0, 1500.0),
    "mediastinum": (50.0, 350.0),
    "abdomen": (40.0, 400.0),
    "liver": (30.0, 150.0),
    "bone": (400.0, 1800.0),
}

#: Default window per modality when the file carries none (only for calibrated units).
MODALITY_PRESETS: Final[dict[str, tuple[float, float]]] = {"CT": window_presets["abdomen"]}

#: Largest frame we agree to decode (pixels); larger inputs fail as ``too_large``.
MAX_FRAME_PIXELS: Final[int] = 60_000_000
#: Contact sheet grid: at most this many columns × rows.
SHEET_COLUMNS: Final[int] = 6
SHEET_ROWS: Final[int] = 5
SHEET_MAX_WIDTH: Final[int] = 1280

_NATIVE_SYNTAXES: Final[frozenset[str]] = frozenset(
    {
        pydicom.uid.ImplicitVRLittleEndian,
        pydicom.uid.ExplicitVRLittleEndian,
        pydicom.uid.ExplicitVRBigEndian,
        pydicom.uid.DeflatedExplicitVRLittleEndian,
    }
)


@dataclass(frozen=True)
class Window:
    """A VOI window (PS3.3 C.11.2.1.2): centre, width and VOI LUT Function."""

    center: float
    width: float
    function: str = "LINEAR"


@dataclass(frozen=True)
class Rendered:
    """An 8-bit display image (mode ``L`` or ``RGB``) and what it was made from."""

    image: Image.Image
    frames: int
    frame_index: int
    modality: str
    photometric: str
    window: tuple[float, float] | None
    contact_sheet: Image.Image | None


# --------------------------------------------------------------------------- decoders


def configure_decoders(
    order: Sequence[str] = DECODER_PREFERENCE,
    only: Mapping[str, Sequence[str]] = DECODER_ONLY,
) -> None:
    """Put pydicom's decoder plugins in ``order``; for the syntaxes in ``only``, keep just those.

    pydicom 3 tries ``Decoder._available`` in insertion order and returns the first success,
    trying the next plugin when one fails; there is no public setter for a global preference,
    so the dict is rebuilt in place (from a snapshot, so this can be called again).
    """
    from pydicom.pixels.decoders.base import _PIXEL_DATA_DECODERS

    rank = {name: i for i, name in enumerate(order)}
    for uid, (decoder, _version) in _PIXEL_DATA_DECODERS.items():
        available = getattr(decoder, "_available", None)
        if not isinstance(available, dict):
            continue
        original = _ORIGINAL_PLUGINS.setdefault(uid, dict(available))
        items = sorted(original.items(), key=lambda kv: rank.get(kv[0], len(rank)))
        if uid in only:
            kept = [kv for kv in items if kv[0] in only[uid]]
            items = kept or items  # never leave a syntax without any decoder
        available.clear()
        available.update(items)


_ORIGINAL_PLUGINS: dict[str, dict[str, Any]] = {}
configure_decoders()


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence pydicom's validation warnings: they are about the file, not for the user."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


# --------------------------------------------------------------------------- loading


def _looks_like_dicom(head: bytes) -> bool:
    """PS3.10 7.1: a 128-byte preamble then ``DICM``; else a bare dataset starting at group 2/8."""
    if len(head) >= 132 and head[128:132] == b"DICM":
        return True
    if len(head) < 8:
        return False
    for order in ("<", ">"):
        group = int.from_bytes(head[0:2], "little" if order == "<" else "big")
        element = int.from_bytes(head[2:4], "little" if order == "<" else "big")
        if group in (0x0002, 0x0008) and element < 0x0100:
            return True
    return False


def load(src: str | os.PathLike[str] | bytes | bytearray | BinaryIO) -> Dataset:
    """Read a DICOM Part 10 file (PS3.10) and check it carries pixel data we can render.

    Raises :class:`ImagingError` with ``unsupported`` (not DICOM), ``corrupt`` (unreadable
    or truncated), ``no_pixel_data`` (e.g. a report or plan) or ``too_large``.
    """
    source: str | os.PathLike[str] | BinaryIO
    if isinstance(src, str | os.PathLike):
        try:
            with open(src, "rb") as fh:
                head = fh.read(132)
        except OSError as exc:
            raise ImagingError(Reason.CORRUPT, f"cannot read file: {exc.strerror}") from exc
        source = src  # pydicom reads the file itself: no second copy of the pixel data
    else:
        data = bytes(src) if isinstance(src, bytes | bytearray) else src.read()
        head = data[:132]
        source = io.BytesIO(data)
    if not _looks_like_dicom(head):
        raise ImagingError(Reason.UNSUPPORTED, "not a DICOM file")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ds = pydicom.dcmread(source, force=True)
            cut_short = _last_value_cut_short(ds)
    except MemoryError as exc:
        raise ImagingError(Reason.TOO_LARGE, "dataset does not fit in memory") from exc
    except Exception as exc:  # InvalidDicomError, EOFError, struct.error, ValueError, …
        raise ImagingError(Reason.CORRUPT, f"unreadable DICOM: {type(exc).__name__}") from exc
    truncated = cut_short or any("End of file" in str(w.message) for w in caught)
    if truncated and "PixelData" not in ds:
        # The reader stopped inside an element (e.g. a cut-off encapsulated Pixel Data).
        raise ImagingError(Reason.CORRUPT, "file is truncated")
    check_pixel_data(ds)
    return ds


def _last_value_cut_short(ds: Dataset) -> bool:
    """True when the last element read has fewer bytes than its declared length (EOF)."""
    elements = getattr(ds, "_dict", None)
    if not elements:
        return False
    last = next(reversed(elements.values()))
    value, length = getattr(last, "value", None), getattr(last, "length", None)
    if not isinstance(value, bytes) or not isinstance(length, int) or length == 0xFFFFFFFF:
        return False
    return len(value) < length


def check_pixel_data(ds: Dataset) -> None:
    """Validate the Image Pixel module (PS3.3 C.7.6.3) enough to decode safely.

    Element values are converted lazily by pydicom, so a malformed value surfaces when it is
    first read: any such error here is ``corrupt``.
    """
    try:
        _check_pixel_data(ds)
    except ImagingError:
        raise
    except MemoryError as exc:
        raise ImagingError(Reason.TOO_LARGE, "dataset does not fit in memory") from exc
    except Exception as exc:
        raise ImagingError(
            Reason.CORRUPT, f"malformed image attributes: {type(exc).__name__}"
        ) from exc


def _check_pixel_data(ds: Dataset) -> None:
    if "PixelData" not in ds:
        if "FloatPixelData" in ds or "DoubleFloatPixelData" in ds:
            raise ImagingError(Reason.UNSUPPORTED, "float pixel data")
        raise ImagingError(Reason.NO_PIXEL_DATA, "no Pixel Data element")
    try:
        with _quiet():
            rows = int(ds.Rows)
            cols = int(ds.Columns)
            bits = int(ds.BitsAllocated)
            samples = int(ds.get("SamplesPerPixel") or 1)
            frames = number_of_frames(ds)
            value = ds.PixelData
    except (AttributeError, TypeError, ValueError, KeyError) as exc:
        raise ImagingError(Reason.CORRUPT, "incomplete Image Pixel module") from exc
    if rows <= 0 or cols <= 0 or bits not in (1, 8, 16, 32, 64) or samples not in (1, 3):
        raise ImagingError(Reason.CORRUPT, "invalid image dimensions")
    if not value:
        raise ImagingError(Reason.NO_PIXEL_DATA, "empty Pixel Data")
    if rows * cols > MAX_FRAME_PIXELS:
        raise ImagingError(Reason.TOO_LARGE, f"{cols}x{rows} frame")
    tsyntax = _transfer_syntax(ds)
    if tsyntax in _NATIVE_SYNTAXES:
        if samples == 3 and _photometric(ds) == "YBR_FULL_422":
            samples = 2  # PS3.3 C.7.6.3.1.2: Cb and Cr are subsampled horizontally
        expected = rows * cols * samples * frames * bits
        if len(value) * 8 < expected:
            raise ImagingError(Reason.CORRUPT, "pixel data shorter than the image")
    else:
        try:
            get_decoder(tsyntax)
        except NotImplementedError as exc:
            raise ImagingError(Reason.UNSUPPORTED, f"transfer syntax {tsyntax}") from exc
        if tsyntax == pydicom.uid.JPEGExtended12Bit and int(ds.get("BitsStored") or 8) > 8:
            # Only pylibjpeg-libjpeg (GPLv3, deliberately not used) decodes 12-bit JPEG.
            raise ImagingError(Reason.UNSUPPORTED, "12-bit JPEG Extended")


def _transfer_syntax(ds: Dataset) -> pydicom.uid.UID:
    meta = getattr(ds, "file_meta", None)
    uid = meta.get("TransferSyntaxUID") if meta is not None else None
    if uid:
        return pydicom.uid.UID(uid)
    # Bare dataset without file meta: the encoding it was read with (PS3.5 A.1, A.2).
    implicit, little = getattr(ds, "original_encoding", (True, True))
    if not little:
        return pydicom.uid.ExplicitVRBigEndian
    return pydicom.uid.ImplicitVRLittleEndian if implicit else pydicom.uid.ExplicitVRLittleEndian


def _little_endian(ds: Dataset) -> bool:
    """Byte order of OW values such as LUT Data (PS3.5 A.2: only Explicit VR Big Endian)."""
    return _transfer_syntax(ds) != pydicom.uid.ExplicitVRBigEndian


def number_of_frames(ds: Dataset) -> int:
    """Number of Frames (PS3.3 C.7.6.6), 1 when absent or empty."""
    try:
        return max(1, int(ds.get("NumberOfFrames") or 1))
    except (TypeError, ValueError):
        return 1


# --------------------------------------------------------------------------- decoding


def decode_frame(ds: Dataset, index: int) -> tuple[np.ndarray, str]:
    """Decode one frame only (pydicom 3 ``Decoder.as_array(index=…)``).

    Returns the array and the photometric interpretation *after* decoding: decoders turn
    YBR_FULL/YBR_FULL_422 into RGB, and JPEG 2000 YBR_RCT/YBR_ICT come out as RGB
    (PS3.5 8.2.4: the component transform is part of the J2K codestream).
    """
    tsyntax = _transfer_syntax(ds)
    meta = getattr(ds, "file_meta", None)
    if meta is None or not meta.get("TransferSyntaxUID"):
        # A bare dataset (no Part 10 header): tell the decoder how it was encoded.
        if meta is None:
            ds.file_meta = meta = pydicom.dataset.FileMetaDataset()
        meta.TransferSyntaxUID = tsyntax
    try:
        decoder = get_decoder(tsyntax)
    except NotImplementedError as exc:
        raise ImagingError(Reason.UNSUPPORTED, f"transfer syntax {tsyntax}") from exc
    if tsyntax.is_encapsulated:
        check_codestream(ds, index, tsyntax)
    try:
        with _quiet():
            arr, meta = decoder.as_array(ds, index=index)
    except ImagingError:
        raise
    except MemoryError as exc:
        raise ImagingError(Reason.TOO_LARGE, "frame does not fit in memory") from exc
    except NotImplementedError as exc:
        raise ImagingError(Reason.UNSUPPORTED, str(exc)[:200]) from exc
    except BaseException as exc:
        # Rust decoders (pylibjpeg-rle via PyO3) raise PanicException, a BaseException.
        if isinstance(exc, KeyboardInterrupt | SystemExit | GeneratorExit):
            raise
        if "missing dependencies" in str(exc) or "does not support" in str(exc):
            raise ImagingError(Reason.UNSUPPORTED, "no decoder for this compression") from exc
        raise ImagingError(
            Reason.CORRUPT, f"pixel data failed to decode: {type(exc).__name__}"
        ) from exc
    photometric = str(meta.get("photometric_interpretation") or _photometric(ds))
    return arr, photometric


#: JPEG start-of-frame markers (ISO 10918-1 B.1.1.3) and JPEG-LS SOF55 (ISO 14495-1 C.2.2).
_SOF_MARKERS: Final[frozenset[int]] = frozenset(
    {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF, 0xF7}
)


def _jpeg_frame_header(stream: bytes) -> tuple[int, int, int, int] | None:
    """(precision, lines, samples per line, components) of the first SOF, walking markers."""
    if stream[:2] != b"\xff\xd8":
        return None
    pos = 2
    while pos + 4 <= len(stream):
        if stream[pos] != 0xFF:
            return None
        marker = stream[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            pos += 2
            continue
        length = int.from_bytes(stream[pos + 2 : pos + 4], "big")
        if marker in _SOF_MARKERS:
            if length < 8 or pos + 10 > len(stream):
                return None
            p = stream[pos + 4]
            y = int.from_bytes(stream[pos + 5 : pos + 7], "big")
            x = int.from_bytes(stream[pos + 7 : pos + 9], "big")
            return p, y, x, stream[pos + 9]
        if marker in (0xDA, 0xD9):  # start of scan / end of image before any frame header
            return None
        pos += 2 + length
    return None


def _j2k_size(stream: bytes) -> tuple[int, int, int, int] | None:
    """(max precision, height, width, components) from the J2K SIZ segment (ISO 15444-1 A.5.1)."""
    start = stream.find(b"\xff\x4f\xff\x51", 0, 4096)  # SOC + SIZ, maybe after JP2 boxes
    if start < 0:
        return None
    siz = stream[start + 4 :]
    if len(siz) < 38:
        return None
    x, y, x0, y0 = (int.from_bytes(siz[i : i + 4], "big") for i in (4, 8, 12, 16))
    components = int.from_bytes(siz[36:38], "big")
    if components == 0 or len(siz) < 38 + 3 * components:
        return None
    precision = max((siz[38 + 3 * c] & 0x7F) + 1 for c in range(components))
    return precision, y - y0, x - x0, components


def check_codestream(ds: Dataset, index: int, tsyntax: pydicom.uid.UID) -> None:
    """Refuse a compressed frame whose own header contradicts the Image Pixel module.

    PS3.5 8.2: the codestream's precision, size and component count must agree with Bits
    Stored, Rows, Columns and Samples per Pixel. Native decoders trust the codestream, and a
    forged header (e.g. 114-bit precision) can make them write past their buffer and crash
    the process, so such frames fail as ``corrupt`` before any decoder sees them.
    """
    from pydicom.encaps import get_frame

    try:
        with _quiet():
            stream = get_frame(ds.PixelData, index, number_of_frames=number_of_frames(ds))
    except Exception as exc:
        raise ImagingError(Reason.CORRUPT, "encapsulated frame not found") from exc
    rows, cols = int(ds.Rows), int(ds.Columns)
    samples = int(ds.get("SamplesPerPixel") or 1)
    if tsyntax in pydicom.uid.JPEGTransferSyntaxes or tsyntax in pydicom.uid.JPEGLSTransferSyntaxes:
        header = _jpeg_frame_header(stream)
        if header is None:
            raise ImagingError(Reason.CORRUPT, "JPEG frame header missing")
        precision, height, width, components = header
        if not 2 <= precision <= 16 or width != cols or height not in (0, rows):
            raise ImagingError(Reason.CORRUPT, "JPEG frame header disagrees with the dataset")
        if components != samples:
            raise ImagingError(Reason.CORRUPT, "JPEG component count disagrees")
    elif tsyntax in pydicom.uid.JPEG2000TransferSyntaxes:
        size = _j2k_size(stream)
        if size is None:
            raise ImagingError(Reason.CORRUPT, "JPEG 2000 SIZ segment missing")
        precision, height, width, components = size
        if precision > 32 or (height, width) != (rows, cols) or components < samples:
            raise ImagingError(Reason.CORRUPT, "JPEG 2000 header disagrees with the dataset")


def _photometric(ds: Dataset) -> str:
    return str(ds.get("PhotometricInterpretation") or "MONOCHROME2").strip().upper()


# --------------------------------------------------------------------------- functional groups


def frame_attributes(ds: Dataset, index: int) -> Dataset:
    """Attributes that govern one frame: top level, then Shared, then Per-Frame Functional Groups.

    PS3.3 C.7.6.16: in enhanced multi-frame IODs the Pixel Value Transformation (rescale),
    Frame VOI LUT (window) and Pixel Value Transformation / Identity Presentation macros
    live in the functional groups; a per-frame value overrides a shared one. pydicom's LUT
    helpers ignore them (pydicom issue #2353), hence this merge.
    """
    merged = Dataset()
    for keyword in (
        "RescaleSlope",
        "RescaleIntercept",
        "RescaleType",
        "ModalityLUTSequence",
        "WindowCenter",
        "WindowWidth",
        "VOILUTFunction",
        "VOILUTSequence",
        "PresentationLUTShape",
    ):
        if keyword in ds:
            merged[keyword] = ds[keyword]
    groups: list[Dataset] = []
    shared = ds.get("SharedFunctionalGroupsSequence")
    if shared:
        groups.append(shared[0])
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    if per_frame and 0 <= index < len(per_frame):
        groups.append(per_frame[index])
    for group in groups:
        for macro in (
            "PixelValueTransformationSequence",
            "FrameVOILUTSequence",
            "PixelIntensityRelationshipLUTSequence",
        ):
            items = group.get(macro)
            if not items or macro == "PixelIntensityRelationshipLUTSequence":
                continue
            for elem in items[0]:
                merged[elem.tag] = elem
    return merged


# --------------------------------------------------------------------------- grayscale pipeline


def _number(value: Any) -> float | None:
    """First value of a possibly multi-valued, possibly empty DS/IS/FD element, as float."""
    if value is None or value == "":
        return None
    if isinstance(value, list | tuple | pydicom.multival.MultiValue):
        if not value:
            return None
        value = value[0]
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _lut_data(item: Dataset, little_endian: bool = True) -> tuple[np.ndarray, int, int] | None:
    """Decode a LUT (PS3.3 C.11.1.1.1): returns (data, first value mapped, bits) or ``None``.

    LUT Descriptor = [entries (0 means 65536), first stored value mapped, bits per entry];
    LUT Data is US (a list) or OW (bytes, 16-bit words in the dataset's byte order).
    """
    descriptor = item.get("LUTDescriptor")
    if not descriptor or len(descriptor) != 3 or item.get("LUTData") is None:
        return None
    entries, first, bits = (int(v) for v in descriptor)
    entries = entries or 65536
    raw = item.LUTData
    if isinstance(raw, bytes | bytearray):
        dtype = np.dtype("<u2" if little_endian else ">u2")
        if bits <= 8 and len(raw) == entries:
            data = np.frombuffer(raw, dtype=np.uint8).astype(np.float64)
        else:
            data = np.frombuffer(raw[: len(raw) // 2 * 2], dtype=dtype).astype(np.float64)
    else:
        values = raw if isinstance(raw, list | tuple | pydicom.multival.MultiValue) else [raw]
        data = np.asarray(list(values), dtype=np.float64)
    if data.size == 0:
        return None
    return data[:entries], first, bits


def _apply_lut(values: np.ndarray, data: np.ndarray, first: int) -> np.ndarray:
    """Map input values through a LUT: below the first entry → first, above the last → last."""
    index = np.clip(np.rint(values - first), 0, data.size - 1).astype(np.intp)
    return data[index]


def modality_lut(
    stored: np.ndarray, attrs: Dataset, pixel_signed: bool, little_endian: bool = True
) -> np.ndarray:
    """Modality LUT (PS3.3 C.11.1): Modality LUT Sequence, else Rescale Slope/Intercept.

    Empty sequences and empty elements mean "absent" (identity), never a crash.
    """
    sequence = attrs.get("ModalityLUTSequence")
    if sequence:
        lut = _lut_data(sequence[0], little_endian)
        if lut is not None:
            data, first, _bits = lut
            # C.11.1.1.1: the first value mapped is signed when Pixel Representation is 1.
            if pixel_signed and first >= 2**15:
                first -= 2**16
            return _apply_lut(stored.astype(np.float64), data, first)
    slope = _number(attrs.get("RescaleSlope"))
    intercept = _number(attrs.get("RescaleIntercept"))
    out = stored.astype(np.float64)
    if slope is not None and slope != 0:
        out *= slope
    if intercept is not None:
        out += intercept
    return out


def voi_window(values: np.ndarray, window: Window) -> np.ndarray:
    """Apply a window, output in [0, 1].

    PS3.3 C.11.2.1.2 (LINEAR) and C.11.2.1.3 (LINEAR_EXACT, SIGMOID).
    """
    c, w = window.center, window.width
    if window.function == "SIGMOID":
        return 1.0 / (1.0 + np.exp(np.clip(-4.0 * (values - c) / w, -700, 700)))
    if window.function == "LINEAR_EXACT":
        return np.clip((values - c) / w + 0.5, 0.0, 1.0)
    # LINEAR: x <= c - 0.5 - (w-1)/2 → 0; x > c - 0.5 + (w-1)/2 → 1; else linear.
    if w <= 1:
        return (values > c - 0.5).astype(np.float64)
    return np.clip((values - (c - 0.5)) / (w - 1) + 0.5, 0.0, 1.0)


def voi_lut(values: np.ndarray, item: Dataset, little_endian: bool = True) -> np.ndarray | None:
    """VOI LUT Sequence (PS3.3 C.11.2.1.1), output in [0, 1]; ``None`` when the LUT is empty.

    The output is scaled by the nominal range of the LUT Descriptor's bit depth, unless the
    data exceed it (a common encoder error), then by the data maximum.
    """
    lut = _lut_data(item, little_endian)
    if lut is None:
        return None
    data, first, bits = lut
    if first >= 2**15 and values.min(initial=0) < 0:
        first -= 2**16
    top = float(2 ** max(1, min(bits, 16)) - 1)
    top = max(top, float(data.max()))
    if top <= 0:
        return None
    return _apply_lut(values, data, first) / top


def select_voi(attrs: Dataset) -> Window | Dataset | None:
    """The default VOI (PS3.3 C.11.2): the first valid window, else the first VOI LUT item.

    "If multiple values are present, ... the first" is the default view; windows with
    width below 1 (LINEAR) or not positive (LINEAR_EXACT/SIGMOID) are invalid and skipped.
    """
    center = _number(attrs.get("WindowCenter"))
    width = _number(attrs.get("WindowWidth"))
    function = str(attrs.get("VOILUTFunction") or "LINEAR").strip().upper()
    if function not in ("LINEAR", "LINEAR_EXACT", "SIGMOID"):
        function = "LINEAR"
    if center is not None and width is not None:
        minimum = 1.0 if function == "LINEAR" else 0.0
        if width > minimum or (function == "LINEAR" and width == 1.0):
            return Window(center, width, function)
    sequence = attrs.get("VOILUTSequence")
    if sequence:
        for item in sequence:
            if item.get("LUTDescriptor") and item.get("LUTData") is not None:
                return item
    return None


def pixel_padding_range(ds: Dataset, pixel_signed: bool, bits: int) -> tuple[int, int] | None:
    """Stored values that are padding (PS3.3 C.7.5.1.1.2): Pixel Padding Value [.. Range Limit].

    The values are raw stored values (before the Modality LUT). A value read as US from a
    signed image is reinterpreted as two's complement.
    """
    value = _number(ds.get("PixelPaddingValue"))
    if value is None:
        return None
    limit = _number(ds.get("PixelPaddingRangeLimit"))

    def signed(v: float) -> int:
        iv = int(v)
        if pixel_signed and iv >= 2 ** (bits - 1):
            iv -= 2**bits
        return iv

    lo = signed(value)
    hi = signed(limit) if limit is not None else lo
    near = jpegls_near(ds)
    return (min(lo, hi) - near, max(lo, hi) + near)


def jpegls_near(ds: Dataset) -> int:
    """NEAR of near-lossless JPEG-LS (ISO 14495-1 C.2.3, PS3.5 A.4.3): the per-pixel error bound.

    Padding stored as e.g. -2000 comes back anywhere in -2000 ± NEAR, so the padding range is
    widened by it. Read from the SOS marker segment of the first frame; 0 for anything else.
    """
    if _transfer_syntax(ds) != pydicom.uid.JPEGLSNearLossless:
        return 0
    try:
        from pydicom.encaps import generate_frames

        with _quiet():
            first = next(generate_frames(ds.PixelData, number_of_frames=number_of_frames(ds)))
        pos = first.find(b"\xff\xda")
        if pos < 0:
            return 0
        components = first[pos + 4]
        return int(first[pos + 5 + 2 * components])
    except (StopIteration, IndexError, ValueError, TypeError):
        return 0


def presentation_inverts(ds: Dataset, photometric: str, attrs: Dataset | None = None) -> bool:
    """Whether to invert after VOI (PS3.3 C.7.6.3.1.2, C.11.6.1).

    MONOCHROME1 means minimum = white. In DX/MG/IO the Presentation LUT Shape INVERSE on a
    MONOCHROME1 image *is* that inversion (PS3.3 C.8.11.1.1.1), not a second one; INVERSE on
    MONOCHROME2 inverts.
    """
    shape = str((attrs or ds).get("PresentationLUTShape") or ds.get("PresentationLUTShape") or "")
    return photometric == "MONOCHROME1" or shape.strip().upper() == "INVERSE"


def percentile_window(
    values: np.ndarray, weights: np.ndarray | None = None, low: float = 0.5, high: float = 99.5
) -> Window | None:
    """A robust window from the ``low``–``high`` percentiles of (weighted) values.

    Not in the standard: used when the file has no VOI (PS3.3 C.11.2 leaves it to the
    application). Padding must already be excluded from ``values``/``weights``.
    """
    if values.size == 0:
        return None
    if weights is None:
        weights = np.ones(values.shape, dtype=np.float64)
    order = np.argsort(values, kind="stable")
    v = values[order]
    cum = np.cumsum(weights[order], dtype=np.float64)
    total = cum[-1]
    if total <= 0:
        return None
    lo = float(v[min(np.searchsorted(cum, total * low / 100.0), v.size - 1)])
    hi = float(v[min(np.searchsorted(cum, total * high / 100.0), v.size - 1)])
    if hi <= lo:
        lo, hi = float(v[0]), float(v[-1])
    if hi <= lo:
        return Window(lo, 1.0, "LINEAR_EXACT")
    return Window((lo + hi) / 2.0, hi - lo, "LINEAR_EXACT")


def _domain(dtype: np.dtype) -> np.ndarray | None:
    """Every value an integer array of ``dtype`` can hold, indexed by its unsigned view."""
    if dtype.kind not in "iu" or dtype.itemsize > 2:
        return None
    unsigned = np.arange(2 ** (8 * dtype.itemsize), dtype=f"u{dtype.itemsize}")
    return unsigned.view(dtype) if dtype.kind == "i" else unsigned


def _stats_sample(frame: np.ndarray, target: int = 1_000_000) -> np.ndarray:
    step = max(1, int(math.sqrt(frame.size / target)))
    return frame[::step, ::step] if frame.ndim == 2 and step > 1 else frame


def grayscale_lut(
    ds: Dataset,
    attrs: Dataset,
    frame: np.ndarray,
    photometric: str,
    fallback: Window | None = None,
) -> tuple[np.ndarray, Window | None]:
    """Display a grayscale frame: Modality LUT → VOI → Presentation → 8 bits, padding black.

    Without a VOI in the file or a modality preset, ``fallback`` (e.g. the window computed
    for the representative frame, so a contact sheet is consistent) or else a percentile
    window of this frame is used.

    PS3.4 N.2.1. Returns the ``uint8`` image and the window used (``None`` for a VOI LUT).
    """
    pixel_signed = frame.dtype.kind == "i"
    bits = frame.dtype.itemsize * 8
    padding = pixel_padding_range(ds, pixel_signed, bits)
    domain = _domain(frame.dtype)
    # ≤ 16-bit integers: evaluate the chain once per possible stored value (the domain);
    # 32-bit integer or float data: evaluate it on the frame itself.
    stored = domain if domain is not None else frame
    pad_mask = None
    if padding is not None:
        pad_mask = (stored >= padding[0]) & (stored <= padding[1])
    little = _little_endian(ds)
    modality = modality_lut(stored, attrs, pixel_signed, little)

    voi = select_voi(attrs)
    window: Window | None = None
    display: np.ndarray | None = None
    if isinstance(voi, Window):
        window = voi
    elif isinstance(voi, Dataset):
        display = voi_lut(modality, voi, little)
    if window is None and display is None:
        modality_name = str(ds.get("Modality") or "").upper()
        preset = MODALITY_PRESETS.get(modality_name)
        calibrated = _number(attrs.get("RescaleIntercept")) is not None
        if preset is not None and calibrated:
            window = Window(preset[0], preset[1], "LINEAR")
        elif fallback is not None:
            window = fallback
        else:
            keep = np.ones(modality.shape, dtype=bool) if pad_mask is None else ~pad_mask
            if domain is not None:
                # Statistics from a histogram of (a subsample of) the frame's stored values.
                sample = _stats_sample(frame)
                index = sample.view(f"u{frame.dtype.itemsize}") if pixel_signed else sample
                hist = np.bincount(index.ravel(), minlength=domain.size).astype(np.float64)
                keep &= hist > 0
                window = percentile_window(modality[keep], hist[keep])
            else:
                values = _stats_sample(modality)[_stats_sample(keep)]
                window = percentile_window(values.ravel())
            if window is None:
                window = Window(0.0, 1.0, "LINEAR_EXACT")
    if display is None:
        assert window is not None
        display = voi_window(modality, window)
    if presentation_inverts(ds, photometric, attrs):
        display = 1.0 - display
    lut = np.rint(np.clip(display, 0.0, 1.0) * 255.0).astype(np.uint8)
    if pad_mask is not None:
        lut[pad_mask] = 0
    if domain is None:
        return lut, window
    index = frame.view(f"u{frame.dtype.itemsize}") if pixel_signed else frame
    return np.take(lut, index), window


def supplemental_palette(ds: Dataset, frame: np.ndarray, gray: np.ndarray) -> np.ndarray | None:
    """Supplemental Palette Color LUT (PS3.3 C.7.6.19, C.7.9): colour a stored-value range.

    Stored values inside the palette's range are shown in colour, the rest stay grayscale.
    """
    if _photometric(ds) not in ("MONOCHROME1", "MONOCHROME2"):
        return None
    tables = []
    for colour in ("Red", "Green", "Blue"):
        item = Dataset()
        desc = ds.get(f"{colour}PaletteColorLookupTableDescriptor")
        data = ds.get(f"{colour}PaletteColorLookupTableData")
        if not desc or data is None:
            return None
        item.LUTDescriptor = list(desc)
        item.LUTData = data
        lut = _lut_data(item, _little_endian(ds))
        if lut is None:
            return None
        tables.append(lut)
    first = tables[0][1]
    if frame.dtype.kind == "i" and first >= 2**15:
        first -= 2**16  # the descriptor's first value follows Pixel Representation
    bits = tables[0][2]
    size = min(t[0].size for t in tables)
    inside = (frame >= first) & (frame < first + size)
    if not inside.any():
        return None
    scale = 255.0 / (2 ** min(bits, 16) - 1)
    rgb = np.repeat(gray[..., None], 3, axis=2)
    idx = (frame[inside].astype(np.int64) - first).clip(0, size - 1)
    for channel, (data, _first, _bits) in enumerate(tables):
        rgb[..., channel][inside] = np.rint(data[idx] * scale).clip(0, 255).astype(np.uint8)
    return rgb


# --------------------------------------------------------------------------- colour


def _to_uint8(arr: np.ndarray, bits_stored: int) -> np.ndarray:
    if arr.dtype == np.uint8:
        return arr
    top = float(2 ** max(1, min(bits_stored, 32)) - 1)
    return np.rint(np.clip(arr.astype(np.float32), 0, top) * (255.0 / top)).astype(np.uint8)


def color_frame(ds: Dataset, frame: np.ndarray, photometric: str) -> np.ndarray:
    """A colour frame as 8-bit RGB (PS3.3 C.7.6.3.1.2).

    RGB and decoder-converted YBR are used as they are (Planar Configuration, C.7.6.3.1.3, is
    undone by the decoder); YBR_FULL(_422) still in YCbCr is converted (C.7.6.3.1.2);
    PALETTE COLOR, including segmented palettes, goes through its LUTs (C.7.6.3.1.5).
    """
    bits_stored = int(ds.get("BitsStored") or frame.dtype.itemsize * 8)
    if photometric == "PALETTE COLOR":
        with _quiet():
            rgb = apply_color_lut(frame, ds)
        bits = 16 if rgb.dtype.itemsize > 1 else 8
        desc = ds.get("RedPaletteColorLookupTableDescriptor")
        if desc and len(desc) == 3 and int(desc[2]) in (8, 16):
            bits = int(desc[2])
        return _to_uint8(rgb, bits)
    if photometric in ("YBR_FULL", "YBR_FULL_422"):
        frame = convert_color_space(frame, photometric, "RGB")
    return _to_uint8(frame, bits_stored)


# --------------------------------------------------------------------------- rendering


def _render_frame(
    ds: Dataset, index: int, fallback: Window | None = None
) -> tuple[np.ndarray, Window | None, str]:
    """Decode and display frame ``index``: ``uint8`` (H, W) or (H, W, 3)."""
    frame, photometric = decode_frame(ds, index)
    if frame.ndim == 3 and frame.shape[-1] == 3 and photometric not in ("PALETTE COLOR",):
        return color_frame(ds, frame, photometric), None, photometric
    if frame.ndim != 2:
        raise ImagingError(Reason.UNSUPPORTED, f"frame shape {frame.shape}")
    if photometric == "PALETTE COLOR":
        return color_frame(ds, frame, photometric), None, photometric
    if photometric not in ("MONOCHROME1", "MONOCHROME2"):
        raise ImagingError(Reason.UNSUPPORTED, f"photometric interpretation {photometric}")
    if frame.dtype == np.bool_:
        frame = frame.astype(np.uint8)
    attrs = frame_attributes(ds, index)
    gray, window = grayscale_lut(ds, attrs, frame, photometric, fallback)
    coloured = supplemental_palette(ds, frame, gray)
    return (coloured if coloured is not None else gray), window, photometric


def _image(arr: np.ndarray) -> Image.Image:
    return Image.fromarray(np.ascontiguousarray(arr), "RGB" if arr.ndim == 3 else "L")


def sample_frames(frames: int, limit: int = SHEET_COLUMNS * SHEET_ROWS) -> list[int]:
    """Evenly spaced frame indices (first and last included), at most ``limit``."""
    if frames <= limit:
        return list(range(frames))
    return sorted({round(i * (frames - 1) / (limit - 1)) for i in range(limit)})


def contact_sheet(tiles: Sequence[tuple[int, Image.Image]], frames: int) -> Image.Image:
    """Thumbnails of the sampled frames in a grid (≤ 6 × 5) labelled with frame numbers."""
    columns = min(SHEET_COLUMNS, len(tiles))
    rows = math.ceil(len(tiles) / columns)
    gap = 2
    first = tiles[0][1]
    tile_w = max(16, min((SHEET_MAX_WIDTH - gap * (columns - 1)) // columns, 512))
    tile_h = max(8, round(tile_w * first.height / first.width))
    mode = "RGB" if any(t.mode == "RGB" for _, t in tiles) else "L"
    sheet = Image.new(
        mode, (columns * tile_w + gap * (columns - 1), rows * tile_h + gap * (rows - 1))
    )
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=max(10, tile_h // 12))
    white = (255, 255, 255) if mode == "RGB" else 255
    for n, (index, tile) in enumerate(tiles):
        x = (n % columns) * (tile_w + gap)
        y = (n // columns) * (tile_h + gap)
        thumb = tile.convert(mode) if tile.mode != mode else tile
        thumb = thumb.resize((tile_w, tile_h), Image.Resampling.BILINEAR, reducing_gap=2.0)
        sheet.paste(thumb, (x, y))
        draw.text((x + 3, y + 2), f"{index + 1}/{frames}", fill=white, font=font)
    return sheet


def render(
    ds: Dataset,
    *,
    frame: int | None = None,
    sheet: bool = True,
    default_window: tuple[float, float] | None = None,
) -> Rendered:
    """Render a dataset for display: frame ``frame`` (default: the middle one) and, for
    multi-frame images, a contact sheet of up to 30 evenly sampled frames.

    Only the frames shown are decoded. ``default_window`` (centre, width) replaces the
    percentile window when the file has no VOI of its own (used for the slices of a
    series). Raises :class:`ImagingError` with a classified reason.
    """
    check_pixel_data(ds)
    frames = number_of_frames(ds)
    index = frames // 2 if frame is None else frame
    if not 0 <= index < frames:
        raise ImagingError(Reason.UNSUPPORTED, f"frame {index} of {frames}")
    try:
        fallback = Window(*default_window, "LINEAR_EXACT") if default_window else None
        arr, window, _decoded_as = _render_frame(ds, index, fallback)
        tiles: list[tuple[int, Image.Image]] = []
        if sheet and frames > 1:
            for i in sample_frames(frames):
                tile = arr if i == index else _render_frame(ds, i, window)[0]
                tiles.append((i, _image(tile)))
        return Rendered(
            image=_image(arr),
            frames=frames,
            frame_index=index,
            modality=str(ds.get("Modality") or "").strip(),
            photometric=_photometric(ds),
            window=(window.center, window.width) if window is not None else None,
            contact_sheet=contact_sheet(tiles, frames) if tiles else None,
        )
    except ImagingError:
        raise
    except MemoryError as exc:
        raise ImagingError(Reason.TOO_LARGE, "image does not fit in memory") from exc
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt | SystemExit | GeneratorExit):
            raise
        raise ImagingError(Reason.CORRUPT, f"cannot render: {type(exc).__name__}") from exc


def render_series(
    instances: Sequence[str | os.PathLike[str] | bytes], *, sheet: bool = True
) -> Rendered:
    """Render a series given as its instances in display order (e.g. sorted along the normal).

    The middle instance (its middle frame) is the representative image; the contact sheet
    shows up to 30 evenly sampled instances. Instances are read and decoded one at a time and
    only the thumbnails are kept, so memory stays flat for a 300-slice CT.
    """
    if not instances:
        raise ImagingError(Reason.NO_PIXEL_DATA, "empty series")
    count = len(instances)
    middle_index = count // 2
    middle = render(load(instances[middle_index]), sheet=count == 1 and sheet)
    if count == 1 or not sheet:
        return middle
    tiles: list[tuple[int, Image.Image]] = []
    thumb_side = SHEET_MAX_WIDTH // SHEET_COLUMNS
    for i in sample_frames(count):
        if i == middle_index:
            image = middle.image
        else:
            image = render(load(instances[i]), sheet=False, default_window=middle.window).image
        thumb = image.copy()
        thumb.thumbnail((thumb_side * 2, thumb_side * 2), Image.Resampling.BILINEAR)
        tiles.append((i, thumb))
    return Rendered(
        image=middle.image,
        frames=count,
        frame_index=middle_index,
        modality=middle.modality,
        photometric=middle.photometric,
        window=middle.window,
        contact_sheet=contact_sheet(tiles, count),
    )
