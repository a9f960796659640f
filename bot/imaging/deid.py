"""De-identification of DICOM per PS3.15 Annex E, Basic Application Confidentiality Profile.

What :func:`deidentify` does, recursively through every sequence item:

- applies the Basic Profile actions of :mod:`bot.imaging.deid_profile` (D/Z/X/K/C/U);
- removes every private tag, curve (50xx) and overlay (60xx) group, group lengths and
  public tags unknown to the data dictionary (their meaning and content are unknown);
- remaps every instance UID (any UI value outside pydicom's UID dictionary and outside
  the DICOM root ``1.2.840.10008``) to ``2.25.<HMAC-SHA256(case_key, uid) as a 128-bit
  integer>``: deterministic per case, consistent across files, file meta included;
- clears the 128-byte preamble and the file meta's identifying fields;
- sets Patient Identity Removed = YES, De-identification Method and its code sequence
  (113100, DCM, "Basic Application Confidentiality Profile");
- reports ``burned_in_risk`` when Burned In Annotation is YES, or absent on a modality
  or SOP class where text in the pixels is common (US, XA, ES, SC, …).
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydicom import dcmread
from pydicom.datadict import dictionary_has_tag, keyword_for_tag
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.sequence import Sequence
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    UID,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from bot.imaging.deid_profile import BASIC_PROFILE
from bot.imaging.errors import ImagingError, Reason

__all__ = [
    "DEID_METHOD",
    "DeidResult",
    "dataset_to_bytes",
    "deidentify",
    "deidentify_bytes",
    "deidentify_path",
    "read_dicom_bytes",
    "remap_uid",
]

DEID_METHOD = "PS3.15 E.1.1 Basic Application Confidentiality Profile"
_DEID_CODE = ("113100", "DCM", "Basic Application Confidentiality Profile")
_DICOM_ROOT = "1.2.840.10008."

#: modalities where burned-in text (names, dates) is common when the flag is absent
BURNED_IN_MODALITIES = frozenset(
    {"US", "IVUS", "XA", "RF", "ES", "SC", "OT", "XC", "GM", "SM", "DOC", "OP", "ECG", "DG"}
)
_SECONDARY_CAPTURE_PREFIX = "1.2.840.10008.5.1.4.1.1.7"

# dummy values per VR for action D (non-zero length, consistent with the VR, meaningless)
_DUMMY: dict[str, object] = {
    "DA": "19000101",
    "TM": "000000",
    "DT": "19000101000000",
    "PN": "ANONYMOUS",
    "LO": "ANONYMOUS",
    "SH": "ANONYMOUS",
    "LT": "ANONYMOUS",
    "ST": "ANONYMOUS",
    "UT": "ANONYMOUS",
    "UC": "ANONYMOUS",
    "CS": "ANONYMOUS",
    "AE": "ANONYMOUS",
    "AS": "000Y",
    "IS": "0",
    "DS": "0",
    "US": 0,
    "SS": 0,
    "UL": 0,
    "SL": 0,
    "FL": 0.0,
    "FD": 0.0,
    "OB": b"\x00\x00",
    "OW": b"\x00\x00",
    "UN": b"\x00\x00",
}

# file meta elements that name the sending/receiving systems or carry private data
_META_DROP = (0x00020016, 0x00020017, 0x00020018, 0x00020026, 0x00020027, 0x00020028)
_META_DROP_PRIVATE = (0x00020100, 0x00020102)


@dataclass
class DeidResult:
    """The de-identified dataset, whether pixels may hold identifiers, elements removed."""

    dataset: Dataset
    burned_in_risk: bool
    removed: int


def remap_uid(case_key: bytes, uid: str) -> str:
    """Map an instance UID to ``2.25.<int>``: deterministic per ``case_key``, ≤ 44 chars.

    The integer is the first 128 bits of HMAC-SHA256(case_key, uid), i.e. within the UUID
    range the 2.25 arc is defined for (PS3.5 B.2), well under the 64-character limit.
    """
    digest = hmac.new(case_key, uid.encode("ascii", "replace"), hashlib.sha256).digest()
    return "2.25." + str(int.from_bytes(digest[:16], "big"))[:59]


def _is_well_known(uid: str) -> bool:
    """Transfer syntaxes, SOP classes, coding schemes…: public constants, never remapped."""
    return uid.startswith(_DICOM_ROOT) or bool(UID(uid).keyword)


#: UI attributes that name a class, syntax or coding scheme, never an instance: even a
#: vendor's private SOP class UID stays as it is (viewers need it, it identifies no one)
_CLASS_KEYWORDS = frozenset(
    {
        "TransferSyntaxUID",
        "ReferencedTransferSyntaxUIDInFile",
        "CodingSchemeUID",
        "ContextUID",
        "MappingResourceUID",
        "ImplementationClassUID",
    }
)


def _names_a_class(tag: int) -> bool:
    if BASIC_PROFILE.get(tag) == "U":  # e.g. Manufacturer's Device Class UID
        return False
    keyword = keyword_for_tag(tag)
    return keyword.endswith(("ClassUID", "ClassUIDInFile")) or keyword in _CLASS_KEYWORDS


def _clean_uid(value: object) -> str:
    return str(value).strip().rstrip("\x00").strip()


def burned_in_risk(ds: Dataset) -> bool:
    """True when the pixel data may show identifiers (burned-in text, recognisable face)."""
    flag = str(ds.get("BurnedInAnnotation", "") or "").strip().upper()
    if flag == "YES":
        return True
    if str(ds.get("RecognizableVisualFeatures", "") or "").strip().upper() == "YES":
        return True
    if flag == "NO":
        return False
    modality = str(ds.get("Modality", "") or "").strip().upper()
    sop_class = _clean_uid(ds.get("SOPClassUID", "") or "")
    return modality in BURNED_IN_MODALITIES or sop_class.startswith(_SECONDARY_CAPTURE_PREFIX)


class _Deidentifier:
    def __init__(self, case_key: bytes) -> None:
        self.case_key = case_key
        self.removed = 0

    def uid(self, value: object) -> str:
        text = _clean_uid(value)
        if not text or _is_well_known(text):
            return text
        return remap_uid(self.case_key, text)

    def remap_element(self, elem: DataElement) -> None:
        if elem.VM == 0 or elem.value is None or _names_a_class(int(elem.tag)):
            return
        if elem.VM > 1:
            elem.value = [self.uid(v) for v in elem.value]
        else:
            elem.value = self.uid(elem.value)

    def dataset(self, ds: Dataset) -> None:
        for tag in list(ds.keys()):
            self.element(ds, int(tag))

    def element(self, ds: Dataset, tag: int) -> None:
        group, elem_no = tag >> 16, tag & 0xFFFF
        if (
            group % 2 == 1  # private (and private creators)
            or 0x5000 <= group <= 0x50FF  # curves
            or 0x6000 <= group <= 0x60FF  # overlays
            or elem_no == 0x0000  # group lengths: stale after removal
            or (tag not in BASIC_PROFILE and not dictionary_has_tag(tag))
        ):
            del ds[tag]
            self.removed += 1
            return
        elem = ds[tag]
        action = BASIC_PROFILE.get(tag)
        if action == "X" or action == "C":
            del ds[tag]
            self.removed += 1
            return
        if action == "Z":
            elem.value = Sequence() if elem.VR == "SQ" else None
            return
        if action == "D":
            if elem.VR == "SQ":
                elem.value = Sequence()
            elif elem.VR == "UI":
                self.remap_element(elem)
            else:
                elem.value = _DUMMY.get(str(elem.VR))
            return
        # U, K or not in the table: remap UIDs, descend into sequences
        if elem.VR == "UI":
            self.remap_element(elem)
        elif elem.VR == "SQ":
            for item in elem.value or []:
                self.dataset(item)

    def file_meta(self, meta: FileMetaDataset) -> None:
        for tag in (*_META_DROP, *_META_DROP_PRIVATE):
            if tag in meta:
                del meta[tag]
                self.removed += 1
        if "MediaStorageSOPInstanceUID" in meta:
            meta.MediaStorageSOPInstanceUID = UID(self.uid(meta.MediaStorageSOPInstanceUID))
        meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
        if "ImplementationVersionName" in meta:
            del meta.ImplementationVersionName


def _mark(ds: Dataset, patient_label: str | None) -> None:
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = DEID_METHOD
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = _DEID_CODE
    ds.DeidentificationMethodCodeSequence = Sequence([code])
    if patient_label is not None:
        ds.PatientName = patient_label
        ds.PatientID = patient_label


def deidentify(
    ds: Dataset,
    case_key: bytes,
    *,
    patient_label: str | None = None,
    in_place: bool = False,
) -> DeidResult:
    """De-identify ``ds`` (a copy unless ``in_place``) for the case keyed by ``case_key``.

    ``patient_label`` (e.g. the public case code) fills Patient's Name and ID instead of
    leaving them empty. Raises :class:`ImagingError` (``CORRUPT``) on malformed elements.
    """
    if not case_key:
        raise ValueError("case_key must not be empty")
    if not in_place:
        ds = copy.deepcopy(ds)
    risk = burned_in_risk(ds)
    worker = _Deidentifier(case_key)
    try:
        ds.preamble = b"\x00" * 128
        worker.dataset(ds)
        meta = getattr(ds, "file_meta", None)
        if meta is not None:
            worker.file_meta(meta)
    except ImagingError:
        raise
    except Exception as exc:  # malformed values surface lazily while walking
        raise ImagingError(
            Reason.CORRUPT, f"de-identification failed: {type(exc).__name__}"
        ) from None
    if not _clean_uid(ds.get("SOPInstanceUID", "") or ""):
        # a Part 10 file needs one; derive it deterministically from the pixels
        pixels = ds.get("PixelData") or b""
        seed = "sampark-missing-sop-instance:" + hashlib.sha256(pixels).hexdigest()
        ds.SOPInstanceUID = remap_uid(case_key, seed)
    _mark(ds, patient_label)
    return DeidResult(dataset=ds, burned_in_risk=risk, removed=worker.removed)


def read_dicom_bytes(data: bytes) -> Dataset:
    """Parse DICOM bytes (Part 10, or a bare dataset with a SOP Class UID); classified errors."""
    try:
        try:
            ds = dcmread(io.BytesIO(data))
        except InvalidDicomError:
            ds = dcmread(io.BytesIO(data), force=True)
            if "SOPClassUID" not in ds:
                raise ImagingError(Reason.UNSUPPORTED, "not a DICOM file") from None
        # force conversion of every raw element now (file meta too), so errors surface here
        for _ in ds.iterall():
            pass
        for _ in getattr(ds, "file_meta", None) or ():
            pass
    except ImagingError:
        raise
    except MemoryError:
        raise ImagingError(Reason.TOO_LARGE, "DICOM dataset too large") from None
    except Exception as exc:
        raise ImagingError(Reason.CORRUPT, f"unreadable DICOM: {type(exc).__name__}") from None
    return ds


def dataset_to_bytes(ds: Dataset) -> bytes:
    """Write ``ds`` as a DICOM Part 10 file (preamble, DICM, file meta) and return the bytes."""
    try:
        return _part10(ds)
    except ImagingError:
        raise
    except MemoryError:
        raise ImagingError(Reason.TOO_LARGE, "DICOM dataset too large to write") from None
    except Exception as exc:
        raise ImagingError(Reason.CORRUPT, f"cannot write DICOM: {type(exc).__name__}") from None


def _syntax_read_with(ds: Dataset) -> UID:
    """The transfer syntax matching how a dataset without file meta was encoded."""
    implicit, little = getattr(ds, "original_encoding", (None, None))
    if little is False:
        return ExplicitVRBigEndian
    return ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian


def _part10(ds: Dataset) -> bytes:
    meta = getattr(ds, "file_meta", None)
    if meta is None:
        meta = FileMetaDataset()
        ds.file_meta = meta
    if "TransferSyntaxUID" not in meta:
        meta.TransferSyntaxUID = _syntax_read_with(ds)
    if "SOPClassUID" in ds:
        meta.MediaStorageSOPClassUID = ds.SOPClassUID
    if "SOPInstanceUID" in ds:
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    if getattr(ds, "preamble", None) is None:
        ds.preamble = b"\x00" * 128
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def deidentify_bytes(
    data: bytes, case_key: bytes, *, patient_label: str | None = None
) -> tuple[bytes, DeidResult]:
    """Parse, de-identify and re-encode DICOM bytes; returns (file bytes, result)."""
    ds = read_dicom_bytes(data)
    result = deidentify(ds, case_key, patient_label=patient_label, in_place=True)
    return dataset_to_bytes(result.dataset), result


def deidentify_path(
    src: str | Path,
    dst: str | Path,
    case_key: bytes,
    *,
    patient_label: str | None = None,
    reader: Callable[[Path], bytes] = Path.read_bytes,
) -> DeidResult:
    """De-identify the DICOM file ``src`` into ``dst`` (written atomically)."""
    out, result = deidentify_bytes(reader(Path(src)), case_key, patient_label=patient_label)
    dst = Path(dst)
    tmp = dst.with_name(dst.name + ".part")
    tmp.write_bytes(out)
    tmp.replace(dst)
    return result
