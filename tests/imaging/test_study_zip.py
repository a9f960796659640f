"""Study archives and folders: grouping, ordering, traversal, bombs, encryption, limits."""

from __future__ import annotations

import io
import os
import random
import struct
import zipfile
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset

from bot.imaging.errors import ImagingError, Reason
from bot.imaging.study_zip import ZipLimits, read_study_dir, read_study_zip

SERIES = ["1.2.826.0.1.3680043.8.498.71", "1.2.826.0.1.3680043.8.498.72"]


def _instance(series: int, number: int, z: float, *, with_position: bool = True) -> bytes:
    ds: Dataset = dcmread(get_testdata_file("CT_small.dcm"))
    ds.SeriesInstanceUID = SERIES[series]
    ds.SeriesNumber = series + 1
    ds.SeriesDescription = f"series {series}"
    ds.SOPInstanceUID = f"1.2.826.0.1.3680043.8.498.9{series}{number:03d}"
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.InstanceNumber = number
    if with_position:
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.ImagePositionPatient = [0, 0, z]
    else:
        del ds.ImagePositionPatient
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def _zip(members: list[tuple[str, bytes]], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as zf:
        for name, data in members:
            zf.writestr(name, data)
    return buf.getvalue()


def _sop(data: bytes) -> str:
    return str(dcmread(io.BytesIO(data), stop_before_pixels=True).SOPInstanceUID)


def _study_members() -> list[tuple[str, bytes]]:
    members = [
        # series 0: positions decide the order (instance numbers deliberately scrambled)
        ("DICOM/S0/IM3", _instance(0, 1, 30.0)),
        ("DICOM/S0/IM1", _instance(0, 3, 10.0)),
        ("DICOM/S0/IM2", _instance(0, 2, 20.0)),
        # series 1: no positions -> instance number order
        ("DICOM/S1/B", _instance(1, 2, 0.0, with_position=False)),
        ("DICOM/S1/A", _instance(1, 1, 0.0, with_position=False)),
        ("DICOMDIR", b"\x00" * 128 + b"DICM" + b"\x00" * 64),
        ("README.TXT", b"CD export"),
        ("viewer/viewer.exe", b"MZ" + b"\x00" * 100),
    ]
    random.Random(4).shuffle(members)
    return members


def test_groups_and_orders_series() -> None:
    study = read_study_zip(_zip(_study_members()))
    assert [s.uid for s in study.series] == SERIES
    assert study.skipped == 3
    assert study.instance_count == 5
    s0, s1 = study.series
    assert s0.modality == "CT"
    assert s0.description == "series 0"
    z = [float(dcmread(io.BytesIO(d)).ImagePositionPatient[2]) for d in s0.instances]
    assert z == [10.0, 20.0, 30.0]
    assert [int(dcmread(io.BytesIO(d)).InstanceNumber) for d in s1.instances] == [1, 2]


def test_path_like_and_file_object(tmp_path: Path) -> None:
    path = tmp_path / "study.zip"
    path.write_bytes(_zip(_study_members()))
    assert read_study_zip(path).instance_count == 5
    with path.open("rb") as fh:
        assert read_study_zip(fh).instance_count == 5


def test_path_traversal_never_touches_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    evil = _instance(0, 1, 1.0)
    data = _zip(
        [
            ("../../evil.dcm", evil),
            ("/abs/evil.dcm", evil),
            ("C:/evil.dcm", evil),
            ("ok/good.dcm", _instance(0, 2, 2.0)),
        ]
    )
    before = set(tmp_path.parent.iterdir()) | set(tmp_path.iterdir())
    study = read_study_zip(data)
    after = set(tmp_path.parent.iterdir()) | set(tmp_path.iterdir())
    assert before == after
    assert study.instance_count == 1
    assert study.skipped == 3


def test_symlink_member_skipped() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        info = zipfile.ZipInfo("link.dcm")
        info.external_attr = (0o120777 << 16) | 0x20
        zf.writestr(info, b"/etc/passwd")
        zf.writestr("a.dcm", _instance(0, 1, 1.0))
    study = read_study_zip(buf.getvalue())
    assert study.instance_count == 1
    assert study.skipped == 1


def test_zip_bomb_ratio() -> None:
    bomb = b"\x00" * 128 + b"DICM" + b"\x00" * (20 * 1024 * 1024)
    data = _zip([("bomb.dcm", bomb)])
    assert len(data) < 100_000
    with pytest.raises(ImagingError) as info:
        read_study_zip(data)
    assert info.value.reason is Reason.UNSAFE_ARCHIVE


def _patch_sizes(data: bytes, declared: int) -> bytes:
    """Make every header claim ``declared`` uncompressed bytes (a lying archive)."""
    raw = bytearray(data)
    pos = 0
    while (pos := raw.find(b"PK\x03\x04", pos)) >= 0:
        struct.pack_into("<I", raw, pos + 22, declared)
        pos += 4
    pos = 0
    while (pos := raw.find(b"PK\x01\x02", pos)) >= 0:
        struct.pack_into("<I", raw, pos + 24, declared)
        pos += 4
    return bytes(raw)


def test_lying_declared_size() -> None:
    member = b"\x00" * 128 + b"DICM" + os.urandom(300_000)
    data = _patch_sizes(_zip([("liar.dcm", member)]), 1000)
    with pytest.raises(ImagingError) as info:
        read_study_zip(data)
    assert info.value.reason in (Reason.UNSAFE_ARCHIVE, Reason.CORRUPT)


def test_limits_entries_and_total() -> None:
    members = [(f"f{i}.dcm", _instance(0, i, float(i))) for i in range(5)]
    data = _zip(members)
    with pytest.raises(ImagingError) as info:
        read_study_zip(data, limits=ZipLimits(max_entries=3))
    assert info.value.reason is Reason.TOO_LARGE
    with pytest.raises(ImagingError) as info:
        read_study_zip(data, limits=ZipLimits(max_total_bytes=20_000))
    assert info.value.reason is Reason.TOO_LARGE
    with pytest.raises(ImagingError) as info:
        read_study_zip(data, limits=ZipLimits(max_archive_bytes=1000))
    assert info.value.reason is Reason.TOO_LARGE


def _set_encrypted_flag(data: bytes) -> bytes:
    raw = bytearray(data)
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        pos = 0
        while (pos := raw.find(signature, pos)) >= 0:
            raw[pos + offset] |= 0x01
            pos += 4
    return bytes(raw)


def test_encrypted_zip() -> None:
    data = _set_encrypted_flag(_zip([("a.dcm", _instance(0, 1, 1.0))]))
    with pytest.raises(ImagingError) as info:
        read_study_zip(data)
    assert info.value.reason is Reason.ENCRYPTED_ARCHIVE


def test_not_a_zip_and_truncated() -> None:
    with pytest.raises(ImagingError) as info:
        read_study_zip(b"this is not a zip at all" * 10)
    assert info.value.reason is Reason.CORRUPT
    data = _zip(_study_members())
    with pytest.raises(ImagingError) as info:
        read_study_zip(data[: len(data) // 2])
    assert info.value.reason is Reason.CORRUPT


def test_stored_member_crc_mismatch() -> None:
    data = bytearray(_zip([("a.dcm", _instance(0, 1, 1.0))], compression=zipfile.ZIP_STORED))
    data[2000] ^= 0xFF  # flip a byte inside the stored member
    with pytest.raises(ImagingError) as info:
        read_study_zip(bytes(data))
    assert info.value.reason is Reason.CORRUPT


def test_empty_study() -> None:
    study = read_study_zip(_zip([("notes.txt", b"hello")]))
    assert study.series == []
    assert study.skipped == 1


def test_read_study_dir(tmp_path: Path) -> None:
    for name, data in _study_members():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    (tmp_path / "link.dcm").symlink_to(tmp_path / "DICOM" / "S0" / "IM1")
    study = read_study_dir(tmp_path)
    assert [s.uid for s in study.series] == SERIES
    assert study.instance_count == 5
    assert study.skipped == 4  # DICOMDIR, README, exe, symlink
    assert [_sop(d) for d in study.series[1].instances] == [
        "1.2.826.0.1.3680043.8.498.91001",
        "1.2.826.0.1.3680043.8.498.91002",
    ]
    with pytest.raises(ImagingError) as info:
        read_study_dir(tmp_path, limits=ZipLimits(max_entries=2))
    assert info.value.reason is Reason.TOO_LARGE
