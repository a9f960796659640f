"""Tests for bot.security.blobstore: the encrypted local object store."""

from __future__ import annotations

import hashlib
import io
import os
import stat
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file

from bot.security.blobstore import (
    BlobNotFoundError,
    BlobRef,
    BlobStore,
    LocalBlobStore,
    valid_blob_id,
)
from bot.security.envelope import IntegrityError, UnknownKeyError
from bot.security.keys import KeyRing


@pytest.fixture
def ring() -> KeyRing:
    return KeyRing.generate()


@pytest.fixture
def store(tmp_path: Path, ring: KeyRing) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs", ring)


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def test_is_a_blob_store(store: LocalBlobStore) -> None:
    assert isinstance(store, BlobStore)


def test_put_get_bytes(store: LocalBlobStore) -> None:
    ref = store.put(b"hello", kind="preview", meta={"width": 640, "format": "jpeg"})
    assert isinstance(ref, BlobRef)
    assert valid_blob_id(ref.id)
    assert ref.size == 5
    assert ref.kind == "preview"
    assert store.get(ref.id) == b"hello"
    info = store.stat(ref.id)
    assert info.kind == "preview"
    assert info.meta == {"width": 640, "format": "jpeg"}
    assert info.size == 5
    assert info.key_id == store.keyring.active_id


@pytest.mark.parametrize("size", [0, 1, 65535, 65536, 65537, 3 * 65536, 1_000_003])
def test_round_trip_sizes_and_sources(store: LocalBlobStore, size: int) -> None:
    data = os.urandom(size)
    by_bytes = store.put(data, kind="k")
    by_file = store.put(io.BytesIO(data), kind="k")
    by_iter = store.put((data[i : i + 7777] for i in range(0, size, 7777)), kind="k")
    for ref in (by_bytes, by_file, by_iter):
        assert ref.size == size
        assert store.get(ref.id) == data
        assert store.stat(ref.id).size == size
        with store.open(ref.id) as reader:
            assert reader.info.size == size
            assert b"".join(reader) == data


def test_large_meta_spanning_segments(store: LocalBlobStore) -> None:
    meta = {"note": "x" * 60_000}
    ref = store.put(b"payload", kind="k", meta=meta)
    assert store.stat(ref.id).meta == meta
    assert store.get(ref.id) == b"payload"
    with pytest.raises(ValueError, match="meta"):
        store.put(b"", kind="k", meta={"note": "x" * 70_000})
    with pytest.raises(ValueError, match="JSON"):
        store.put(b"", kind="k", meta={"bad": object()})


def test_ids_are_random_and_paths_reveal_nothing(store: LocalBlobStore) -> None:
    refs = [
        store.put(b"x", kind="dicom", meta={"case_code": "K7F-3QX", "name": "study.dcm"})
        for _ in range(20)
    ]
    assert len({r.id for r in refs}) == 20
    assert sorted(store.ids()) == sorted(r.id for r in refs)
    for path in store.root.rglob("*"):
        rel = str(path.relative_to(store.root))
        for word in ("K7F", "dicom", "study", "dcm"):
            assert word not in rel


def test_exists_delete_and_not_found(store: LocalBlobStore) -> None:
    ref = store.put(b"abc", kind="k")
    assert store.exists(ref.id)
    assert store.delete(ref.id) is True
    assert not store.exists(ref.id)
    assert store.delete(ref.id) is False
    with pytest.raises(BlobNotFoundError):
        store.get(ref.id)
    with pytest.raises(BlobNotFoundError):
        store.key_id(ref.id)
    assert list(store.ids()) == []


@pytest.mark.parametrize("bad", ["../../etc/passwd", "", "AB" * 16, "0" * 31, "../" + "0" * 29])
def test_malformed_ids_never_touch_the_filesystem(store: LocalBlobStore, bad: str) -> None:
    with pytest.raises(BlobNotFoundError):
        store.get(bad)
    assert not store.exists(bad)
    with pytest.raises(BlobNotFoundError):
        store.delete(bad)


def test_modes_are_private(tmp_path: Path, ring: KeyRing) -> None:
    old = os.umask(0)
    try:
        store = LocalBlobStore(tmp_path / "blobs", ring)
        for _ in range(5):
            ref = store.put(os.urandom(100), kind="k")
        store.delete(ref.id)
    finally:
        os.umask(old)
    for path in store.root.rglob("*"):
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), path
    assert stat.S_IMODE(store.root.stat().st_mode) == 0o700


def test_loose_existing_root_is_tightened(tmp_path: Path, ring: KeyRing) -> None:
    root = tmp_path / "blobs"
    root.mkdir(mode=0o755)
    os.chmod(root, 0o755)
    LocalBlobStore(root, ring)
    assert stat.S_IMODE(root.stat().st_mode) == 0o700


def test_no_plaintext_under_the_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    ring = KeyRing.load_or_create(data_dir / "keys" / "master-keys.json")
    store = LocalBlobStore(data_dir / "blobs", ring)
    marker = b"SAMPARK-PLAINTEXT-MARKER-7f3a"
    dicom_path = get_testdata_file("CT_small.dcm")
    assert dicom_path is not None
    raw = Path(dicom_path).read_bytes()
    ds = pydicom.dcmread(dicom_path)
    patient_name = str(ds.PatientName)
    patient_id = str(ds.PatientID)
    pixels = ds.PixelData
    store.put(marker * 1000, kind="marker", meta={"label": marker.decode()})
    store.put(raw, kind="dicom", meta={"patient": patient_name, "case": "K7F-3QX"})
    store.put(io.BytesIO(raw), kind="dicom")
    needles = [
        marker,
        marker[:12],
        b"DICM",
        patient_name.encode(),
        patient_name.encode("utf-16-le"),
        patient_id.encode(),
        b"K7F-3QX",
        pixels[1000:1032],
        pixels[-64:-32],
    ]
    files = _files(data_dir)
    assert len(files) >= 4
    for path in files:
        content = path.read_bytes()
        for needle in needles:
            assert needle not in content, (path.name, needle[:16])
    # and it is all still there
    assert sorted(store.get(i) for i in store.ids()) == sorted([marker * 1000, raw, raw])


def test_object_moved_to_another_id_fails_integrity(store: LocalBlobStore) -> None:
    a = store.put(b"A" * 1000, kind="k")
    b = store.put(b"B" * 1000, kind="k")
    path_a = store.root / "objects" / a.id[:2] / a.id
    path_b = store.root / "objects" / b.id[:2] / b.id
    content_a = path_a.read_bytes()
    path_a.write_bytes(path_b.read_bytes())
    path_b.write_bytes(content_a)
    with pytest.raises(IntegrityError):
        store.get(a.id)
    with pytest.raises(IntegrityError):
        store.get(b.id)


def test_tampered_file_raises_integrity_error(store: LocalBlobStore) -> None:
    ref = store.put(os.urandom(200_000), kind="k")
    path = store.root / "objects" / ref.id[:2] / ref.id
    original = path.read_bytes()
    for position in (0, 5, 20, 70, 1000, 100_000, len(original) - 1):
        mutated = bytearray(original)
        mutated[position] ^= 0x40
        path.write_bytes(bytes(mutated))
        with pytest.raises(IntegrityError):
            store.get(ref.id)
    path.write_bytes(original[: 65536 + 16 + 80])  # truncated at a segment boundary-ish
    with pytest.raises(IntegrityError):
        store.get(ref.id)


def test_wrong_keyring_cannot_read(tmp_path: Path, store: LocalBlobStore) -> None:
    ref = store.put(b"secret", kind="k")
    other = LocalBlobStore(store.root, KeyRing.generate())
    with pytest.raises(UnknownKeyError):
        other.get(ref.id)


def test_failed_put_leaves_nothing(store: LocalBlobStore) -> None:
    def source() -> Iterator[bytes]:
        yield b"a" * 100_000
        raise RuntimeError("network dropped")

    with pytest.raises(RuntimeError):
        store.put(source(), kind="k")
    assert list(store.ids()) == []
    assert list((store.root / "tmp").iterdir()) == []


def test_sweep_temp_removes_stale_partial_writes(store: LocalBlobStore) -> None:
    stale = store.root / "tmp" / ".put-deadbeef"
    stale.write_bytes(b"partial")
    os.utime(stale, (0, 0))
    fresh = store.root / "tmp" / ".put-cafe"
    fresh.write_bytes(b"partial")
    assert store.sweep_temp(older_than=3600) == 1
    assert not stale.exists()
    assert fresh.exists()


def test_reader_streams_in_segments_and_closes(store: LocalBlobStore) -> None:
    data = os.urandom(300_000)
    ref = store.put(data, kind="k")
    reader = store.open(ref.id)
    parts = list(reader)
    assert b"".join(parts) == data
    assert max(len(p) for p in parts) <= 65536
    reader.close()
    with store.open(ref.id) as early:
        next(early)  # abandon half-way; closing must not fail


async def test_async_wrappers(store: LocalBlobStore) -> None:
    ref = await store.aput(b"async", kind="k")
    assert await store.aget(ref.id) == b"async"
    big = os.urandom(200_000)
    ref2 = await store.aput(big, kind="k")
    parts = [part async for part in store.aopen(ref2.id)]
    assert b"".join(parts) == big
    assert len(parts) > 1
    assert await store.adelete(ref.id) is True


def test_streaming_memory_is_bounded(tmp_path: Path, ring: KeyRing) -> None:
    store = LocalBlobStore(tmp_path / "blobs", ring)
    total = 64 * 1024 * 1024
    chunk = 1024 * 1024

    def generate() -> Iterator[bytes]:
        for i in range(total // chunk):
            yield hashlib.sha256(i.to_bytes(4, "big")).digest() * (chunk // 32)

    expected = hashlib.sha256()
    for part in generate():
        expected.update(part)

    tracemalloc.start()
    try:
        ref = store.put(generate(), kind="big")
        _, put_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        digest = hashlib.sha256()
        with store.open(ref.id) as reader:
            for part in reader:
                digest.update(part)
        _, read_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert ref.size == total
    assert digest.digest() == expected.digest()
    assert put_peak < 4 * 1024 * 1024, put_peak
    assert read_peak < 2 * 1024 * 1024, read_peak
