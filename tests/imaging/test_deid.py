"""De-identification: Basic Profile actions, UID remapping, no identifier survives."""

from __future__ import annotations

import io
import shutil
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pytest
from pydicom import dcmread
from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, UltrasoundImageStorage

from bot.imaging.deid import (
    dataset_to_bytes,
    deidentify,
    deidentify_bytes,
    deidentify_path,
    read_dicom_bytes,
    remap_uid,
)
from bot.imaging.deid_profile import BASIC_PROFILE, BASIC_PROFILE_BY_KEYWORD, resolve
from bot.imaging.errors import ImagingError, Reason

KEY = b"case-key-K7F-3QX"

IDENTIFIERS = {
    "PatientName": "Sharmaji^Ramesh",
    "PatientID": "PID99887766",
    "PatientBirthDate": "19610412",
    "OtherPatientIDs": "OPID55443322",
    "PatientAddress": "Village Khairpur Tehsil",
    "PatientTelephoneNumbers": "+919812345678",
    "InstitutionName": "Khairpur Community Health Centre",
    "InstitutionAddress": "NH-44 Khairpur",
    "ReferringPhysicianName": "Verma^Anjali",
    "PerformingPhysicianName": "Kulkarni^Sudhir",
    "OperatorsName": "Tech^Bhavna",
    "AccessionNumber": "ACC20260001",
    "DeviceSerialNumber": "SN-XR-774411",
    "StationName": "XRAYSTATION7",
    "StudyID": "STUDY4242",
    "StudyDate": "20260311",
    "SeriesDate": "20260312",
    "AcquisitionDate": "20260313",
    "ContentDate": "20260314",
    "StudyDescription": "Chest for Ramesh Sharmaji",
    "ImageComments": "patient Ramesh ward 3",
}
UIDS = {
    "StudyInstanceUID": "1.2.826.0.1.3680043.8.498.1111111111",
    "SeriesInstanceUID": "1.2.826.0.1.3680043.8.498.2222222222",
    "SOPInstanceUID": "1.2.826.0.1.3680043.8.498.3333333333",
    "FrameOfReferenceUID": "1.2.826.0.1.3680043.8.498.4444444444",
}
NESTED = {
    "ref_sop": "1.2.826.0.1.3680043.8.498.5555555555",
    "nested_name": "Nested^Physician^Gupta",
    "nested_id": "NESTEDID314159",
    "private_text": "PRIVATESECRET271828",
    "private_nested": "PRIVNESTED161803",
}


def make_dataset(modality: str = "CT", sop_class: str = CTImageStorage) -> Dataset:
    """A small CT with identifiers at top level, inside sequences and in private tags."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.file_meta.MediaStorageSOPInstanceUID = UIDS["SOPInstanceUID"]
    ds.file_meta.SourceApplicationEntityTitle = "KHAIRPURPACS"
    ds.SOPClassUID = sop_class
    ds.Modality = modality
    for key, value in {**IDENTIFIERS, **UIDS}.items():
        setattr(ds, key, value)
    ds.StudyTime = "101112"
    # nested: referenced image sequence with a UID and a physician identification sequence
    ref = Dataset()
    ref.ReferencedSOPClassUID = sop_class
    ref.ReferencedSOPInstanceUID = NESTED["ref_sop"]
    ds.ReferencedImageSequence = Sequence([ref])
    person = Dataset()
    person.PersonName = NESTED["nested_name"]
    person.InstitutionName = IDENTIFIERS["InstitutionName"]
    ds.PerformingPhysicianIdentificationSequence = Sequence([person])
    # a kept sequence whose items hold identifiers that the profile cleans
    code = Dataset()
    code.CodeValue = "T-D3000"
    code.CodingSchemeDesignator = "SRT"
    code.CodeMeaning = "Chest"
    code.PatientID = NESTED["nested_id"]
    code.add_new(0x00090010, "LO", "ACME 1.0")
    code.add_new(0x00091001, "LO", NESTED["private_nested"])
    ds.AnatomicRegionSequence = Sequence([code])
    # private block at top level + overlay + curve
    ds.add_new(0x00290010, "LO", "ACME PRIVATE")
    ds.add_new(0x00291010, "LO", NESTED["private_text"])
    ds.add_new(0x60000010, "US", 8)
    ds.add_new(0x60000011, "US", 8)
    ds.add_new(0x60003000, "OW", b"\x00" * 8)
    ds.add_new(0x50000005, "US", 2)
    # a small image
    ds.Rows, ds.Columns = 8, 8
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = np.arange(64, dtype="<u2").tobytes()
    ds.preamble = b"KHAIRPUR" + b"\x00" * 120
    return ds


def original_bytes(ds: Dataset) -> bytes:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def dcmdump_ok(data: bytes, tmp_path: Path) -> None:
    """dcmdump (DCMTK) must read the file without error, when installed."""
    if shutil.which("dcmdump") is None:
        return
    path = tmp_path / "out.dcm"
    path.write_bytes(data)
    proc = subprocess.run(["dcmdump", "-q", str(path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[:500]
    assert "E:" not in proc.stderr


def test_profile_table_resolves_and_covers_core_attributes() -> None:
    assert len(BASIC_PROFILE) == len(BASIC_PROFILE_BY_KEYWORD) >= 600
    for keyword in BASIC_PROFILE_BY_KEYWORD:
        assert tag_for_keyword(keyword) is not None, keyword
    assert BASIC_PROFILE[0x00100010] == "Z"  # Patient's Name
    assert BASIC_PROFILE[0x00100030] == "Z"  # Patient's Birth Date
    assert BASIC_PROFILE[0x00080080] == "D"  # Institution Name X/Z/D
    assert BASIC_PROFILE[0x00081140] == "U"  # Referenced Image Sequence X/Z/U*
    assert BASIC_PROFILE[0x00081050] == "X"  # Performing Physician's Name
    assert BASIC_PROFILE[0x0020000D] == "U"
    assert BASIC_PROFILE[0x00420011] == "D"  # Encapsulated Document
    assert BASIC_PROFILE[0x00160072] == "X"  # GPS Latitude
    assert BASIC_PROFILE[0x0018100B] == "U"  # Manufacturer's Device Class UID
    assert resolve("X/Z") == "Z"
    assert resolve("Z/D") == "D"
    assert resolve("X/Z/U*") == "U"


def test_remap_uid_is_deterministic_and_valid() -> None:
    uid = UIDS["SOPInstanceUID"]
    a, b = remap_uid(KEY, uid), remap_uid(KEY, uid)
    assert a == b
    assert a.startswith("2.25.")
    assert len(a) <= 64
    assert remap_uid(b"other key", uid) != a
    assert remap_uid(KEY, uid + "1") != a
    assert all(
        part.isdigit() and (part == "0" or not part.startswith("0")) for part in a.split(".")
    )


def test_no_identifier_survives_in_output_bytes(tmp_path: Path) -> None:
    src = original_bytes(make_dataset())
    for value in [*IDENTIFIERS.values(), *UIDS.values(), *NESTED.values()]:
        assert value.encode() in src, value  # the crafted input really carries them
    out, result = deidentify_bytes(src, KEY)
    needles = [*IDENTIFIERS.values(), *UIDS.values(), *NESTED.values(), "KHAIRPUR", "Ramesh"]
    for value in needles:
        assert value.encode() not in out, f"{value!r} survived"
    assert result.removed >= 10
    dcmdump_ok(out, tmp_path)


def test_output_attributes(tmp_path: Path) -> None:
    out, result = deidentify_bytes(original_bytes(make_dataset()), KEY)
    ds = dcmread(io.BytesIO(out))
    assert ds.PatientIdentityRemoved == "YES"
    assert "Basic Application Confidentiality Profile" in ds.DeidentificationMethod
    code = ds.DeidentificationMethodCodeSequence[0]
    assert (code.CodeValue, code.CodingSchemeDesignator) == ("113100", "DCM")
    assert ds.PatientName == ""
    assert ds.PatientID == ""
    assert ds.PatientBirthDate == ""
    assert ds.StudyDate == ""
    assert ds.AccessionNumber == ""
    assert ds.SeriesDate == "19000101"  # X/D -> dummy
    assert "PerformingPhysicianName" not in ds
    assert "OtherPatientIDs" not in ds
    assert "PatientAddress" not in ds
    assert not any(elem.tag.is_private for elem in ds.iterall())
    assert not any(0x5000 <= elem.tag.group <= 0x60FF for elem in ds.iterall())
    assert ds.AnatomicRegionSequence[0].PatientID == ""  # Z inside a kept sequence
    assert ds.AnatomicRegionSequence[0].CodeValue == "T-D3000"  # clinical codes kept
    # well-known UIDs kept, instance UIDs remapped consistently (file meta included)
    assert ds.SOPClassUID == CTImageStorage
    assert ds.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert ds.SOPInstanceUID == remap_uid(KEY, UIDS["SOPInstanceUID"])
    assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    assert ds.ReferencedImageSequence[0].ReferencedSOPInstanceUID == remap_uid(
        KEY, NESTED["ref_sop"]
    )
    assert ds.ReferencedImageSequence[0].ReferencedSOPClassUID == CTImageStorage
    assert "SourceApplicationEntityTitle" not in ds.file_meta
    assert ds.preamble == b"\x00" * 128
    assert np.array_equal(ds.pixel_array, np.arange(64).reshape(8, 8))
    assert result.burned_in_risk is False


def test_same_key_same_output_and_input_untouched() -> None:
    ds = make_dataset()
    a = dataset_to_bytes(deidentify(ds, KEY).dataset)
    b = dataset_to_bytes(deidentify(ds, KEY).dataset)
    assert a == b
    assert ds.PatientName == IDENTIFIERS["PatientName"]  # not in place by default
    c = dataset_to_bytes(deidentify(ds, b"another case").dataset)
    assert c != a


def test_patient_label() -> None:
    ds = deidentify(make_dataset(), KEY, patient_label="K7F-3QX").dataset
    assert ds.PatientName == "K7F-3QX"
    assert ds.PatientID == "K7F-3QX"


@pytest.mark.parametrize(
    ("modality", "sop_class", "flag", "risk"),
    [
        ("US", UltrasoundImageStorage, None, True),
        ("US", UltrasoundImageStorage, "NO", False),
        ("CT", CTImageStorage, None, False),
        ("CT", CTImageStorage, "YES", True),
        ("OT", "1.2.840.10008.5.1.4.1.1.7", None, True),
        ("XA", "1.2.840.10008.5.1.4.1.1.12.1", None, True),
        ("ES", "1.2.840.10008.5.1.4.1.1.77.1.1", None, True),
    ],
)
def test_burned_in_risk(modality: str, sop_class: str, flag: str | None, risk: bool) -> None:
    ds = make_dataset(modality, sop_class)
    if flag is not None:
        ds.BurnedInAnnotation = flag
    assert deidentify(ds, KEY).burned_in_risk is risk


def test_study_consistency_across_files() -> None:
    a = make_dataset()
    b = make_dataset()
    b.SOPInstanceUID = "1.2.826.0.1.3680043.8.498.9999999999"
    da, db = deidentify(a, KEY).dataset, deidentify(b, KEY).dataset
    assert da.StudyInstanceUID == db.StudyInstanceUID
    assert da.SeriesInstanceUID == db.SeriesInstanceUID
    assert da.SOPInstanceUID != db.SOPInstanceUID


def test_not_dicom_is_classified() -> None:
    with pytest.raises(ImagingError) as info:
        read_dicom_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 300)
    assert info.value.reason in (Reason.UNSUPPORTED, Reason.CORRUPT)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_corpus_files_deidentify_and_stay_valid(corpus: Path, tmp_path: Path) -> None:
    failed: list[str] = []
    for path in sorted(corpus.glob("*.dcm")):
        src = path.read_bytes()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            original = dcmread(io.BytesIO(src), force=True)
            try:
                out, _result = deidentify_bytes(src, KEY)
            except ImagingError:
                failed.append(path.name)
                continue
            ds = dcmread(io.BytesIO(out))
        assert ds.PatientIdentityRemoved == "YES"
        for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"):
            old = str(original.get(keyword, "") or "")
            if old:
                assert old.encode() not in out, (path.name, keyword)
                assert getattr(ds, keyword) == remap_uid(KEY, old)
        for keyword in ("PatientName", "PatientID", "InstitutionName", "PatientBirthDate"):
            old = str(original.get(keyword, "") or "").strip()
            if len(old) >= 6:  # shorter strings occur by chance in pixel bytes
                assert old.encode() not in out, (path.name, keyword)
        assert not any(elem.tag.is_private for elem in ds.iterall())
        dcmdump_ok(out, tmp_path)
    assert all(name.startswith("broken_") for name in failed), failed


def test_deidentify_path(tmp_path: Path) -> None:
    src = tmp_path / "in.dcm"
    src.write_bytes(original_bytes(make_dataset()))
    dst = tmp_path / "out.dcm"
    result = deidentify_path(src, dst, KEY)
    assert dst.exists()
    assert not result.burned_in_risk
    assert b"Sharmaji" not in dst.read_bytes()


# --- sampark deid ---------------------------------------------------------------------


def test_cli_file_folder_zip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import zipfile

    from bot.imaging.cli_deid import main

    src = tmp_path / "in"
    (src / "Sharmaji Ramesh").mkdir(parents=True)
    (src / "Sharmaji Ramesh" / "IM1").write_bytes(original_bytes(make_dataset()))
    (src / "notes.txt").write_text("not dicom")
    # one file -> one file
    out_file = tmp_path / "one.dcm"
    assert main([str(src / "Sharmaji Ramesh" / "IM1"), str(out_file), "--case-key", "k"]) == 0
    assert b"Sharmaji" not in out_file.read_bytes()
    # folder -> folder named by the new UIDs only
    out_dir = tmp_path / "out"
    assert main([str(src), str(out_dir), "--case-key", "k", "--json"]) == 0
    written = [p for p in out_dir.rglob("*") if p.is_file()]
    assert len(written) == 1
    assert "Sharmaji" not in str(written[0])
    assert written[0].read_bytes() == out_file.read_bytes()  # same key -> same output
    # zip -> folder
    archive = tmp_path / "study.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(src / "Sharmaji Ramesh" / "IM1", "DICOM/IM1")
    assert main([str(archive), str(tmp_path / "zout"), "--case-key", "k"]) == 0
    assert len(list((tmp_path / "zout").rglob("*.dcm"))) == 1
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err


def test_cli_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from bot.imaging.cli_deid import main

    assert main([]) == 2
    assert main([str(tmp_path / "missing"), str(tmp_path / "o")]) == 1
    bad = tmp_path / "bad.dcm"
    bad.write_bytes(b"\x00" * 128 + b"DICM" + b"\x02\x00\x10\x00UI\xff\xff")
    assert main([str(bad), str(tmp_path / "o.dcm"), "--case-key", "k"]) == 1
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main([str(empty), str(tmp_path / "o2")]) == 1
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err


def test_private_sop_class_kept_instance_uids_remapped() -> None:
    private_class = "1.3.12.2.1107.5.9.1"  # a vendor's non-image storage class
    ds = make_dataset(sop_class=private_class)
    ds.ReferencedImageSequence[0].ReferencedSOPClassUID = private_class
    out = deidentify(ds, KEY).dataset
    assert out.SOPClassUID == private_class
    assert out.file_meta.MediaStorageSOPClassUID == private_class
    assert out.ReferencedImageSequence[0].ReferencedSOPClassUID == private_class
    assert out.StudyInstanceUID == remap_uid(KEY, UIDS["StudyInstanceUID"])


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize(
    "name",
    [
        "ExplVR_BigEnd.dcm",  # big endian
        "ExplVR_BigEndNoMeta.dcm",  # big endian, no file meta
        "image_dfl.dcm",  # deflated
        "test-SR.dcm",  # structured report: content removed, shell stays valid
        "rtplan.dcm",  # RT plan: many UIDs and references
        "waveform_ecg.dcm",
        "examples_ybr_color.dcm",  # 30-frame JPEG ultrasound
    ],
)
def test_pydicom_bundled_variants(name: str, tmp_path: Path) -> None:
    from pydicom.data import get_testdata_file

    data = Path(get_testdata_file(name)).read_bytes()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        original = dcmread(io.BytesIO(data), force=True)
        out, _ = deidentify_bytes(data, KEY)
        ds = dcmread(io.BytesIO(out))
    assert ds.PatientIdentityRemoved == "YES"
    old_sop = str(original.SOPInstanceUID)
    assert old_sop.encode() not in out
    assert ds.SOPInstanceUID == remap_uid(KEY, old_sop)
    for keyword in ("PatientName", "PatientID"):
        value = str(original.get(keyword, "") or "").strip()
        if len(value) >= 6:
            assert value.encode() not in out
    dcmdump_ok(out, tmp_path)


def test_encapsulated_document_and_gps_and_device_class() -> None:
    ds = make_dataset()
    ds.EncapsulatedDocument = b"%PDF-1.4 Ramesh Sharmaji lab report" + b"\x00"
    ds.GPSLatitude = "28.6139"
    ds.ManufacturerDeviceClassUID = ["1.2.826.0.1.3680043.8.498.4242"]
    out = deidentify(ds, KEY).dataset
    assert b"Ramesh" not in bytes(out.EncapsulatedDocument)
    assert "GPSLatitude" not in out
    assert out.ManufacturerDeviceClassUID == remap_uid(KEY, "1.2.826.0.1.3680043.8.498.4242")
