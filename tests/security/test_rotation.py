"""Tests for bot.security.rotation: re-wrapping data keys under a new master key."""

from __future__ import annotations

import base64
import io
import json
import os
from pathlib import Path

import pytest

from bot.security import rotation
from bot.security.blobstore import LocalBlobStore
from bot.security.envelope import Header, IntegrityError
from bot.security.keys import KeyFileError, KeyRing
from bot.security.rotation import RotationReport, main, rotate_keys


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "var"


@pytest.fixture
def keys_path(data_dir: Path) -> Path:
    return data_dir / "keys" / "master-keys.json"


@pytest.fixture
def blob_root(data_dir: Path) -> Path:
    return data_dir / "blobs"


def _fill(keys_path: Path, blob_root: Path, count: int = 6) -> tuple[LocalBlobStore, dict]:
    ring = KeyRing.load_or_create(keys_path)
    store = LocalBlobStore(blob_root, ring)
    data = {}
    for i in range(count):
        payload = os.urandom(1000 + i * 70_000)
        data[store.put(payload, kind="k", meta={"i": i}).id] = payload
    return store, data


def _split(store: LocalBlobStore, blob_id: str) -> tuple[Header, bytes]:
    raw = (store.root / "objects" / blob_id[:2] / blob_id).read_bytes()
    header = Header.read(io.BytesIO(raw))
    return header, raw[len(header) :]


def test_rotation_rewraps_without_touching_ciphertext(keys_path: Path, blob_root: Path) -> None:
    store, data = _fill(keys_path, blob_root)
    old_kid = store.keyring.active_id
    before = {blob_id: _split(store, blob_id) for blob_id in data}

    report = rotate_keys(keys_path, blob_root)

    assert report.added_key
    assert report.complete
    assert report.rewrapped == len(data)
    assert report.already_current == 0
    ring = KeyRing.load(keys_path)
    assert ring.active_id == report.active_key_id != old_kid
    assert ring.key_ids() == [report.active_key_id, old_kid]
    assert ring.rotation_pending is None
    fresh = LocalBlobStore(blob_root, ring)
    for blob_id, payload in data.items():
        header, body = _split(fresh, blob_id)
        old_header, old_body = before[blob_id]
        assert body == old_body  # ciphertext bytes identical
        assert header.fixed == old_header.fixed
        assert header.kid == ring.active_id
        assert header.wrapped_key != old_header.wrapped_key
        assert fresh.get(blob_id) == payload
        assert fresh.stat(blob_id).meta["i"] in range(len(data))
    assert stat_mode(keys_path) == 0o600


def stat_mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_running_store_keeps_reading_after_rotation(keys_path: Path, blob_root: Path) -> None:
    store, data = _fill(keys_path, blob_root, count=2)
    rotate_keys(keys_path, blob_root)
    # the running process still holds the old ring in memory: it re-reads the file
    for blob_id, payload in data.items():
        assert store.get(blob_id) == payload
    ref = store.put(b"new", kind="k")
    assert store.key_id(ref.id) == KeyRing.load(keys_path).active_id


def test_old_key_only_cannot_read_after_rotation(keys_path: Path, blob_root: Path) -> None:
    store, data = _fill(keys_path, blob_root, count=1)
    old_only = KeyRing(
        {store.keyring.active_id: store.keyring.key(store.keyring.active_id)},
        active=store.keyring.active_id,
    )
    rotate_keys(keys_path, blob_root)
    with pytest.raises(IntegrityError):
        LocalBlobStore(blob_root, old_only).get(next(iter(data)))


def test_rerun_after_complete_rotation_is_a_noop_rewrap(keys_path: Path, blob_root: Path) -> None:
    _, data = _fill(keys_path, blob_root)
    first = rotate_keys(keys_path, blob_root)
    again = rotate_keys(keys_path, blob_root, add_key=False)
    assert not again.added_key
    assert again.rewrapped == 0
    assert again.already_current == len(data)
    assert again.active_key_id == first.active_key_id
    assert len(KeyRing.load(keys_path).key_ids()) == 2


def test_interrupted_rotation_resumes_with_the_same_key(
    keys_path: Path, blob_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, data = _fill(keys_path, blob_root, count=8)
    real = LocalBlobStore.rewrap_one
    calls = {"n": 0}

    def dying(self: LocalBlobStore, blob_id: str, keyring: KeyRing | None = None) -> bool:
        calls["n"] += 1
        if calls["n"] > 3:
            raise KeyboardInterrupt  # the operator's Ctrl-C or a killed process
        return real(self, blob_id, keyring)

    monkeypatch.setattr(LocalBlobStore, "rewrap_one", dying)
    with pytest.raises(KeyboardInterrupt):
        rotate_keys(keys_path, blob_root)
    monkeypatch.setattr(LocalBlobStore, "rewrap_one", real)

    halfway = KeyRing.load(keys_path)
    new_kid = halfway.active_id
    assert halfway.rotation_pending == new_kid
    store = LocalBlobStore(blob_root, halfway)
    kids = [store.key_id(b) for b in data]
    assert kids.count(new_kid) == 3
    for blob_id, payload in data.items():  # mixed state: everything still reads
        assert store.get(blob_id) == payload

    report = rotate_keys(keys_path, blob_root)
    assert report.resumed
    assert not report.added_key
    assert report.active_key_id == new_kid
    assert report.rewrapped == 5
    assert report.already_current == 3
    final = KeyRing.load(keys_path)
    assert final.rotation_pending is None
    assert len(final.key_ids()) == 2
    assert {store.key_id(b) for b in data} == {new_kid}


def test_crash_mid_write_leaves_objects_intact(keys_path: Path, blob_root: Path) -> None:
    _store, data = _fill(keys_path, blob_root, count=2)
    (blob_root / "tmp" / ".put-0123456789abcdef01234567").write_bytes(b"half a header")
    report = rotate_keys(keys_path, blob_root)
    assert report.complete
    fresh = LocalBlobStore(blob_root, KeyRing.load(keys_path))
    assert sorted(fresh.ids()) == sorted(data)
    for blob_id, payload in data.items():
        assert fresh.get(blob_id) == payload


def test_corrupt_object_is_reported_and_rotation_stays_pending(
    keys_path: Path, blob_root: Path
) -> None:
    _store, data = _fill(keys_path, blob_root, count=3)
    bad = next(iter(data))
    path = blob_root / "objects" / bad[:2] / bad
    raw = bytearray(path.read_bytes())
    raw[30] ^= 0xFF  # inside the wrapped key
    path.write_bytes(bytes(raw))
    report = rotate_keys(keys_path, blob_root)
    assert report.failed == [bad]
    assert not report.complete
    assert report.rewrapped == 2
    assert KeyRing.load(keys_path).rotation_pending == report.active_key_id
    assert bad in report.summary()


def test_deleted_object_is_not_resurrected(keys_path: Path, blob_root: Path) -> None:
    store, data = _fill(keys_path, blob_root, count=1)
    blob_id = next(iter(data))
    ring = KeyRing.load(keys_path)
    ring.add_key()
    original_locked = LocalBlobStore._locked

    def delete_first(self: LocalBlobStore):  # type: ignore[no-untyped-def]
        path = self.root / "objects" / blob_id[:2] / blob_id
        if path.exists():
            path.unlink()
        return original_locked(self)

    rewrapper = LocalBlobStore(blob_root, ring)
    rewrapper._locked = delete_first.__get__(rewrapper)  # type: ignore[method-assign]
    assert rewrapper.rewrap_one(blob_id) is False
    assert not store.exists(blob_id)
    assert list((blob_root / "tmp").iterdir()) == []


def test_missing_keys_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="does not exist"):
        rotate_keys(tmp_path / "none.json", tmp_path / "blobs")


def test_report_summary_mentions_counts() -> None:
    report = RotationReport(active_key_id="k1", added_key=True, rewrapped=3, already_current=1)
    assert "k1" in report.summary()
    assert "3 re-wrapped" in report.summary()


# --- command line --------------------------------------------------------------------------


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, data_dir: Path) -> Path:
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("DATA_DIR", str(data_dir))
    monkeypatch.delenv("KEYS_FILE", raising=False)
    return data_dir


def _secrets(keys_path: Path) -> list[str]:
    doc = json.loads(keys_path.read_text())
    return [entry["key"] for entry in doc["keys"].values()]


def test_cli_rotate_and_status(
    cli_env: Path, keys_path: Path, blob_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, _data = _fill(keys_path, blob_root, count=3)
    assert main(["rotate"]) == 0
    out = capsys.readouterr().out
    assert "3 re-wrapped" in out
    assert main(["status"]) == 0
    out += capsys.readouterr().out
    ring = KeyRing.load(keys_path)
    assert ring.active_id in out
    assert f"objects under {ring.active_id}: 3" in out
    assert "DEVELOPMENT" in out
    for secret in _secrets(keys_path):
        assert secret not in out
    assert main(["rewrap"]) == 0
    assert "0 re-wrapped, 3 already current" in capsys.readouterr().out


def test_cli_rotate_without_keys_file(cli_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rotate"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_cli_exit_1_when_an_object_fails(
    cli_env: Path, keys_path: Path, blob_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, data = _fill(keys_path, blob_root, count=2)
    bad = next(iter(data))
    (blob_root / "objects" / bad[:2] / bad).write_bytes(b"garbage")
    assert main(["rotate"]) == 1
    assert bad in capsys.readouterr().out


def test_cli_new_key_prints_a_valid_spec(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["new-key"]) == 0
    spec = capsys.readouterr().out.strip()
    ring = KeyRing.from_spec(spec)
    assert len(ring.key(ring.active_id)) == 32
    assert len(base64.b64decode(spec.split(":")[1])) == 32


def test_cli_env_keys_refuse_rotate_but_rewrap(
    cli_env: Path,
    blob_root: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    old = rotation.new_key_spec()
    old_ring = KeyRing.from_spec(old)
    store = LocalBlobStore(blob_root, old_ring)
    ref = store.put(b"x", kind="k")
    new = rotation.new_key_spec()

    class FakeSettings:
        effective_keys_file = cli_env / "keys" / "master-keys.json"
        blob_dir = blob_root
        master_keys = f"{new},{old}"

    monkeypatch.setattr("bot.config.load_settings", lambda **_: FakeSettings())
    assert main(["rotate"]) == 2
    assert "SAMPARK_MASTER_KEYS" in capsys.readouterr().err
    assert main(["rewrap"]) == 0
    assert "1 re-wrapped" in capsys.readouterr().out
    assert store.key_id(ref.id) == new.split(":")[0]
    assert not FakeSettings.effective_keys_file.exists()


def test_cli_unwritable_data_dir_is_a_message_not_a_traceback(
    cli_env: Path, keys_path: Path, blob_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if os.geteuid() == 0:
        pytest.skip("root ignores permissions")
    _fill(keys_path, blob_root, count=1)
    os.chmod(blob_root / "tmp", 0o500)
    try:
        assert main(["rotate"]) in (1, 2)
    finally:
        os.chmod(blob_root / "tmp", 0o700)
    assert "Traceback" not in capsys.readouterr().err
