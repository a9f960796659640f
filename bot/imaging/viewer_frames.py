"""Frames for the study viewer: one frame of a stored object, windowed, as a small JPEG.

Runs inside a worker process (:mod:`bot.imaging.worker`); everything in and out is
picklable. The input is a de-identified object from the encrypted store (DICOM) or a
preview we made ourselves (JPEG/PNG), never a raw upload.

* :func:`describe_dicom` – what the viewer needs to list a series (size, frames, colour,
  default window) plus the first frame at both sizes, so the first image is ready before
  the page asks for it;
* :func:`render_dicom_frame` – one frame with an explicit window (centre/width replaces the
  file's VOI, PS3.3 C.11.2.1.2, LINEAR) and an optional inversion, fitted and encoded;
* :func:`render_picture` – a photo or page preview, fitted, optionally inverted.

Sizes: ``low`` is a progressive JPEG of at most 640 px on the long side, re-encoded at a
lower quality until it is at most 40 KB (meant to appear first on 2G); ``full`` at most
1600 px. Decoded frames are kept in a small per-process cache (LRU, ~96 MB), so dragging
the window over a J2K chest film does not decode it again each time.
"""

from __future__ import annotations

import io
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
from PIL import Image, ImageOps
from pydicom.dataset import Dataset

from bot.imaging import dicom_render
from bot.imaging.errors import ImagingError, Reason
from bot.imaging.preview import fit

Size = Literal["low", "full"]

LOW_SIDE: Final[int] = 640
FULL_SIDE: Final[int] = 1600
LOW_TARGET_BYTES: Final[int] = 40 * 1024
QUALITY: Final[dict[str, int]] = {"low": 65, "full": 82}
CACHE_BYTES: Final[int] = 96 * 1024 * 1024

_cache: OrderedDict[tuple[str, int], tuple[Dataset, np.ndarray, str]] = OrderedDict()
_cache_size = 0


@dataclass(frozen=True)
class SeriesInfo:
    """One object as the viewer lists it; ``window`` is the default (centre, width)."""

    frames: int
    width: int
    height: int
    modality: str | None
    grayscale: bool
    window: tuple[float, float] | None
    low: bytes | None = None  # frame 0, default window, size "low" (None: not rendered)
    full: bytes | None = None  # frame 0, default window, size "full"


def _load(key: str, data: bytes, index: int) -> tuple[Dataset, np.ndarray, str]:
    """Parse and decode one frame, through the per-process cache."""
    global _cache_size
    found = _cache.get((key, index))
    if found is not None:
        _cache.move_to_end((key, index))
        return found
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = dicom_render.load(data)
        dicom_render.check_pixel_data(ds)
        frames = dicom_render.number_of_frames(ds)
        if not 0 <= index < frames:
            raise ImagingError(Reason.UNSUPPORTED, f"frame {index} of {frames}")
        arr, photometric = dicom_render.decode_frame(ds, index)
    entry = (ds, arr, photometric)
    if key:
        _cache[(key, index)] = entry
        _cache_size += arr.nbytes
        while _cache_size > CACHE_BYTES and len(_cache) > 1:
            _, (_, old, _) = _cache.popitem(last=False)
            _cache_size -= old.nbytes
    return entry


def _display(
    ds: Dataset,
    arr: np.ndarray,
    photometric: str,
    index: int,
    window: tuple[float, float] | None,
) -> tuple[np.ndarray, tuple[float, float] | None]:
    """The 8-bit display array and the window used (None for colour or a VOI LUT)."""
    if arr.ndim == 3 or photometric not in ("MONOCHROME1", "MONOCHROME2"):
        if arr.ndim == 3 and arr.shape[-1] == 3 and photometric != "PALETTE COLOR":
            return dicom_render.color_frame(ds, arr, photometric), None
        if photometric == "PALETTE COLOR" and arr.ndim == 2:
            return dicom_render.color_frame(ds, arr, photometric), None
        raise ImagingError(Reason.UNSUPPORTED, f"photometric interpretation {photometric}")
    if arr.dtype == np.bool_:
        arr = arr.astype(np.uint8)
    attrs = dicom_render.frame_attributes(ds, index)  # a fresh dataset: ours to change
    if window is not None:
        for keyword in ("VOILUTSequence", "VOILUTFunction"):
            if keyword in attrs:
                del attrs[keyword]
        attrs.WindowCenter = float(window[0])
        attrs.WindowWidth = max(1.0, float(window[1]))
    gray, used = dicom_render.grayscale_lut(ds, attrs, arr, photometric)
    return gray, (used.center, used.width) if used is not None else None


def encode(image: Image.Image, size: Size, *, invert: bool = False) -> bytes:
    """Fit to the size's long side and encode as progressive JPEG (``low`` ≤ 40 KB)."""
    shown = fit(
        image.convert("L" if image.mode in ("L", "1", "I", "I;16") else "RGB"),
        LOW_SIDE if size == "low" else FULL_SIDE,
    )
    if invert:
        shown = ImageOps.invert(shown)
    quality = QUALITY[size]
    while True:
        buf = io.BytesIO()
        shown.save(buf, "JPEG", quality=quality, progressive=True, optimize=True)
        data = buf.getvalue()
        if size != "low" or len(data) <= LOW_TARGET_BYTES or quality <= 40:
            return data
        quality -= 10


def _image(arr: np.ndarray) -> Image.Image:
    return Image.fromarray(np.ascontiguousarray(arr), "RGB" if arr.ndim == 3 else "L")


def render_dicom_frame(
    key: str,
    data: bytes,
    index: int,
    size: Size,
    *,
    window: tuple[float, float] | None = None,
    invert: bool = False,
) -> bytes:
    """Frame ``index`` of a DICOM object as JPEG; ``key`` names the object for the cache."""
    try:
        ds, arr, photometric = _load(key, data, index)
        display, _ = _display(ds, arr, photometric, index, window)
        return encode(_image(display), size, invert=invert)
    except ImagingError:
        raise
    except MemoryError:
        raise ImagingError(Reason.TOO_LARGE, "frame does not fit in memory") from None
    except Exception as exc:
        raise ImagingError(Reason.CORRUPT, f"cannot render: {type(exc).__name__}") from None


def _header_window(ds: Dataset) -> tuple[bool, tuple[float, float] | None]:
    """(known, window) of frame 0 from the attributes alone: the file's first window, a
    VOI LUT (no window), or the modality preset; unknown when a decode must compute it."""
    voi = dicom_render.select_voi(dicom_render.frame_attributes(ds, 0))
    if isinstance(voi, dicom_render.Window):
        return True, (voi.center, voi.width)
    if voi is not None:
        return True, None
    preset = dicom_render.MODALITY_PRESETS.get(str(ds.get("Modality") or "").upper())
    if preset is not None and ds.get("RescaleIntercept") is not None:
        return True, preset
    return False, None


def describe_dicom(key: str, data: bytes, *, render_first: bool = True) -> SeriesInfo:
    """Size, frames, colour and default window of a DICOM object, with frame 0 rendered.

    ``render_first=False`` reads the attributes only (no decoding) when they tell the
    window; the caller then has frame 0 from elsewhere (the previews made at intake).
    """
    try:
        if not render_first:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = dicom_render.load(data)
            known, window = _header_window(ds)
            photometric = str(ds.get("PhotometricInterpretation") or "").strip().upper()
            if known and ds.get("Rows") and ds.get("Columns"):
                return SeriesInfo(
                    frames=dicom_render.number_of_frames(ds),
                    width=int(ds.Columns),
                    height=int(ds.Rows),
                    modality=str(ds.get("Modality") or "").strip() or None,
                    grayscale=photometric in ("MONOCHROME1", "MONOCHROME2"),
                    window=window if photometric in ("MONOCHROME1", "MONOCHROME2") else None,
                )
        ds, arr, photometric = _load(key, data, 0)
        display, window = _display(ds, arr, photometric, 0, None)
        image = _image(display)
        modality = str(ds.get("Modality") or "").strip() or None
        return SeriesInfo(
            frames=dicom_render.number_of_frames(ds),
            width=int(arr.shape[1]),
            height=int(arr.shape[0]),
            modality=modality,
            grayscale=display.ndim == 2,
            window=window,
            low=encode(image, "low"),
            full=encode(image, "full"),
        )
    except ImagingError:
        raise
    except MemoryError:
        raise ImagingError(Reason.TOO_LARGE, "frame does not fit in memory") from None
    except Exception as exc:
        raise ImagingError(Reason.CORRUPT, f"cannot render: {type(exc).__name__}") from None


def picture_size(data: bytes) -> tuple[int, int]:
    """Width and height of a JPEG/PNG we made (a preview), read from its header."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except Exception as exc:
        raise ImagingError(Reason.CORRUPT, f"cannot read: {type(exc).__name__}") from None


def render_picture(data: bytes, size: Size, *, invert: bool = False) -> bytes:
    """A photo or page preview, fitted to the size and optionally inverted, as JPEG."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            return encode(image, size, invert=invert)
    except MemoryError:
        raise ImagingError(Reason.TOO_LARGE, "picture does not fit in memory") from None
    except Exception as exc:
        raise ImagingError(Reason.CORRUPT, f"cannot render: {type(exc).__name__}") from None
