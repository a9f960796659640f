"""Studies sent as a zip (e.g. a CD export with DICOMDIR) or as a folder of DICOM files.

Nothing is ever extracted to disk by member name: members are read into memory through
``zipfile`` while counting the actual bytes, so path traversal, symlinks and lying
headers cannot reach the file system. Limits: number of entries, total uncompressed size
(declared and actual), size per entry and compression ratio per entry (zip bombs).
Non-DICOM members (no ``DICM`` after the 128-byte preamble) and the DICOMDIR itself are
skipped; instances are grouped by Series Instance UID and put in slice/instance order.
"""

from __future__ import annotations

import io
import os
import stat
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from pydicom import dcmread

from bot.imaging.errors import ImagingError, Reason

__all__ = [
    "Series",
    "Study",
    "ZipLimits",
    "is_dicom_part10",
    "read_study_dir",
    "read_study_zip",
]

_CHUNK = 1 << 20
_HEADER_TAGS = [
    "SOPInstanceUID",
    "SeriesInstanceUID",
    "SeriesNumber",
    "SeriesDescription",
    "Modality",
    "InstanceNumber",
    "ImagePositionPatient",
    "ImageOrientationPatient",
]


@dataclass(frozen=True)
class ZipLimits:
    """Bounds for an archive or folder of DICOM files."""

    max_entries: int = 5000
    max_total_bytes: int = 1024 * 1024 * 1024
    max_entry_bytes: int = 512 * 1024 * 1024
    max_ratio: float = 200.0
    max_archive_bytes: int = 1024 * 1024 * 1024


@dataclass
class Series:
    """One series: its UID, modality, description and the instances' bytes in order."""

    uid: str
    modality: str
    description: str
    number: int | None = None
    instances: list[bytes] = field(default_factory=list)


@dataclass
class Study:
    """The DICOM series found in an archive or folder, and how many entries were skipped."""

    series: list[Series]
    skipped: int = 0

    @property
    def instance_count(self) -> int:
        return sum(len(s.instances) for s in self.series)


def is_dicom_part10(head: bytes) -> bool:
    """True when ``head`` starts like a DICOM Part 10 file (``DICM`` at offset 128)."""
    return len(head) >= 132 and head[128:132] == b"DICM"


@dataclass
class _Instance:
    order: int
    data: bytes
    series_uid: str
    series_number: int | None
    modality: str
    description: str
    instance_number: int | None
    position: tuple[float, float, float] | None
    orientation: tuple[float, ...] | None


def _float_tuple(value: object, size: int) -> tuple[float, ...] | None:
    try:
        numbers = tuple(float(v) for v in value)  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        return None
    return numbers if len(numbers) == size else None


def _int_or_none(value: object) -> int | None:
    try:
        return int(value) if value not in (None, "") else None  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None


def _parse_header(order: int, data: bytes) -> _Instance | None:
    try:
        ds = dcmread(io.BytesIO(data), stop_before_pixels=True, specific_tags=_HEADER_TAGS)
        position = _float_tuple(ds.get("ImagePositionPatient"), 3)
        return _Instance(
            order=order,
            data=data,
            series_uid=str(ds.get("SeriesInstanceUID", "") or "").strip(),
            series_number=_int_or_none(ds.get("SeriesNumber")),
            modality=str(ds.get("Modality", "") or "").strip(),
            description=str(ds.get("SeriesDescription", "") or "").strip(),
            instance_number=_int_or_none(ds.get("InstanceNumber")),
            position=position,  # type: ignore[arg-type]
            orientation=_float_tuple(ds.get("ImageOrientationPatient"), 6),
        )
    except Exception:  # an unreadable member is skipped, not fatal
        return None


def _slice_key(inst: _Instance) -> float | None:
    if inst.position is None or inst.orientation is None:
        return None
    r, c = inst.orientation[:3], inst.orientation[3:]
    normal = (r[1] * c[2] - r[2] * c[1], r[2] * c[0] - r[0] * c[2], r[0] * c[1] - r[1] * c[0])
    return sum(p * n for p, n in zip(inst.position, normal, strict=True))


def _group(instances: Iterable[_Instance], skipped: int) -> Study:
    by_uid: dict[str, list[_Instance]] = {}
    for inst in instances:
        by_uid.setdefault(inst.series_uid, []).append(inst)
    series: list[Series] = []
    for uid, items in by_uid.items():
        keys = [_slice_key(i) for i in items]
        if all(k is not None for k in keys) and len({round(k or 0.0, 3) for k in keys}) == len(
            keys
        ):
            # a volume: spatial order along the slice normal
            items.sort(key=lambda i: (_slice_key(i) or 0.0, i.order))
        else:
            big = 1 << 62
            items.sort(
                key=lambda i: (i.instance_number if i.instance_number is not None else big, i.order)
            )
        first = items[0]
        series.append(
            Series(
                uid=uid,
                modality=first.modality,
                description=first.description,
                number=first.series_number,
                instances=[i.data for i in items],
            )
        )
    big = 1 << 62
    series.sort(key=lambda s: (s.number if s.number is not None else big, s.uid))
    return Study(series=series, skipped=skipped)


def _is_dicomdir(name: str) -> bool:
    base = name.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    return base.upper() in ("DICOMDIR", "DICOMDIR.")


def _read_member(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo, limits: ZipLimits, budget: int
) -> bytes | None:
    """Read one member into memory, counting real bytes; ``None`` when it is not DICOM."""
    declared = max(info.file_size, 0)
    ceiling = min(declared, limits.max_entry_bytes, budget)
    parts: list[bytes] = []
    total = 0
    with zf.open(info) as fh:
        head = fh.read(132)
        if not is_dicom_part10(head):
            return None
        parts.append(head)
        total = len(head)
        while True:
            chunk = fh.read(_CHUNK)
            if not chunk:
                break
            total += len(chunk)
            if total > declared:
                raise ImagingError(Reason.UNSAFE_ARCHIVE, "member larger than declared")
            if total > ceiling:
                raise ImagingError(Reason.TOO_LARGE, "archive content exceeds the size limit")
            if total > limits.max_ratio * max(info.compress_size, 1):
                raise ImagingError(Reason.UNSAFE_ARCHIVE, "compression ratio too high")
            parts.append(chunk)
    return b"".join(parts)


def _zipfile(
    source: str | os.PathLike[str] | bytes | BinaryIO, limits: ZipLimits
) -> zipfile.ZipFile:
    if isinstance(source, bytes | bytearray):
        if len(source) > limits.max_archive_bytes:
            raise ImagingError(Reason.TOO_LARGE, "archive too large")
        source = io.BytesIO(source)
    elif isinstance(source, str | os.PathLike) and _size(Path(source)) > limits.max_archive_bytes:
        raise ImagingError(Reason.TOO_LARGE, "archive too large")
    try:
        return zipfile.ZipFile(source)
    except MemoryError:
        raise ImagingError(Reason.TOO_LARGE, "zip directory too large") from None
    except Exception as exc:  # BadZipFile, struct.error, UnicodeDecodeError, OSError…
        raise ImagingError(Reason.CORRUPT, f"unreadable zip: {type(exc).__name__}") from None


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        raise ImagingError(Reason.UNSUPPORTED, "archive file not found") from None


def _member_is_unsafe(info: zipfile.ZipInfo) -> bool:
    """Symlinks, absolute paths and ``..`` components: never used, but counted as skipped."""
    mode = info.external_attr >> 16
    if mode and stat.S_ISLNK(mode):
        return True
    name = info.filename.replace("\\", "/")
    return name.startswith("/") or ".." in name.split("/") or ":" in name.split("/")[0]


def read_study_zip(
    source: str | os.PathLike[str] | bytes | BinaryIO, *, limits: ZipLimits | None = None
) -> Study:
    """Read the DICOM instances of a zip archive into series; raise :class:`ImagingError`."""
    limits = limits or ZipLimits()
    with _zipfile(source, limits) as zf:
        try:
            infos = zf.infolist()
        except Exception as exc:
            raise ImagingError(Reason.CORRUPT, f"bad zip directory: {type(exc).__name__}") from None
        if len(infos) > limits.max_entries:
            raise ImagingError(Reason.TOO_LARGE, f"archive has {len(infos)} entries")
        files = [i for i in infos if not i.is_dir()]
        if any(i.flag_bits & 0x1 for i in files):
            raise ImagingError(Reason.ENCRYPTED_ARCHIVE, "password-protected zip")
        declared_total = sum(max(i.file_size, 0) for i in files)
        if declared_total > limits.max_total_bytes:
            raise ImagingError(Reason.TOO_LARGE, "archive content exceeds the size limit")
        for info in files:
            if info.file_size > limits.max_entry_bytes:
                raise ImagingError(Reason.TOO_LARGE, "archive member exceeds the size limit")
            if info.file_size > limits.max_ratio * max(info.compress_size, 1):
                raise ImagingError(Reason.UNSAFE_ARCHIVE, "compression ratio too high")
        instances: list[_Instance] = []
        skipped = 0
        budget = limits.max_total_bytes
        for order, info in enumerate(files):
            if _is_dicomdir(info.filename) or _member_is_unsafe(info):
                skipped += 1
                continue
            try:
                data = _read_member(zf, info, limits, budget)
            except ImagingError:
                raise
            except NotImplementedError:
                raise ImagingError(Reason.UNSUPPORTED, "unsupported zip compression") from None
            except RuntimeError as exc:  # zipfile: "File ... is encrypted"
                raise ImagingError(Reason.ENCRYPTED_ARCHIVE, type(exc).__name__) from None
            except MemoryError:
                raise ImagingError(Reason.TOO_LARGE, "zip member too large") from None
            except Exception as exc:  # BadZipFile, zlib.error, EOFError, LZMAError, struct.error…
                raise ImagingError(
                    Reason.CORRUPT, f"bad zip member: {type(exc).__name__}"
                ) from None
            if data is None:
                skipped += 1
                continue
            budget -= len(data)
            inst = _parse_header(order, data)
            if inst is None:
                skipped += 1
                continue
            instances.append(inst)
    return _group(instances, skipped)


def _walk_files(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        for name in sorted(filenames):
            yield Path(dirpath) / name


def read_study_dir(root: str | os.PathLike[str], *, limits: ZipLimits | None = None) -> Study:
    """Read the DICOM files under a folder (symlinks ignored) into series."""
    limits = limits or ZipLimits()
    root = Path(root)
    if not root.is_dir():
        raise ImagingError(Reason.UNSUPPORTED, "not a folder")
    instances: list[_Instance] = []
    skipped = 0
    total = 0
    for order, path in enumerate(_walk_files(root)):
        if order >= limits.max_entries:
            raise ImagingError(Reason.TOO_LARGE, "folder has too many files")
        try:
            st = path.lstat()
        except OSError:
            skipped += 1
            continue
        if not stat.S_ISREG(st.st_mode) or _is_dicomdir(path.name):
            skipped += 1
            continue
        if st.st_size > limits.max_entry_bytes:
            raise ImagingError(Reason.TOO_LARGE, "file exceeds the size limit")
        total += st.st_size
        if total > limits.max_total_bytes:
            raise ImagingError(Reason.TOO_LARGE, "folder content exceeds the size limit")
        try:
            with path.open("rb") as fh:
                if not is_dicom_part10(fh.read(132)):
                    skipped += 1
                    continue
                fh.seek(0)
                data = fh.read(limits.max_entry_bytes + 1)
        except OSError:
            skipped += 1
            continue
        inst = _parse_header(order, data)
        if inst is None:
            skipped += 1
            continue
        instances.append(inst)
    return _group(instances, skipped)
