"""Tests for bot.security.keys: key files, development keys, derivation, rotation support."""

from __future__ import annotations

import base64
import json
import logging
import os
import stat
import threading
from pathlib import Path

import pytest

from bot.security.keys import (
    KEY_BYTES,
    KeyFileError,
    KeyRing,
    KeyRingError,
    UnknownKeyIdError,
    open_keyring,
)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _b64(n: int = KEY_BYTES, fill: int = 7) -> str:
    return base64.b64encode(bytes([fill]) * n).decode()


def test_load_or_create_generates_private_file_and_warns_loudly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "var" / "keys" / "master-keys.json"
    with caplog.at_level(logging.WARNING, logger="bot.security.keys"):
        ring = KeyRing.load_or_create(path)
    assert path.is_file()
    assert _mode(path) == 0o600
    assert _mode(path.parent) == 0o700
    assert ring.development
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any("DEVELOPMENT MASTER KEYS GENERATED" in r.getMessage() for r in warnings)
    message = "\n".join(r.getMessage() for r in warnings)
    assert "SAMPARK_MASTER_KEYS" in message
    # the warning names the file but never the key
    key = json.loads(path.read_text())["keys"][ring.active_id]["key"]
    assert key not in caplog.text
    assert not list(path.parent.glob(".*tmp"))


def test_second_run_loads_same_keys_without_generating(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "keys.json"
    first = KeyRing.load_or_create(path)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        second = KeyRing.load_or_create(path)
    assert second.active_id == first.active_id
    assert second.derive(b"uid-remap") == first.derive(b"uid-remap")
    assert "GENERATED" not in caplog.text
    assert "DEVELOPMENT master keys" in caplog.text  # still reminded on every load


def test_generated_file_is_0600_even_with_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        path = tmp_path / "k" / "keys.json"
        KeyRing.load_or_create(path)
    finally:
        os.umask(old)
    assert _mode(path) == 0o600
    assert _mode(path.parent) == 0o700


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660, 0o644, 0o622])
def test_keys_file_accessible_by_group_or_others_is_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "keys.json"
    KeyRing.load_or_create(path)
    os.chmod(path, mode)
    with pytest.raises(KeyFileError, match="chmod 600"):
        KeyRing.load(path)
    with pytest.raises(KeyFileError):
        KeyRing.load_or_create(path)


def test_concurrent_first_runs_agree_on_one_key(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    rings: list[KeyRing] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            rings.append(KeyRing.load_or_create(path))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len({ring.derive(b"x") for ring in rings}) == 1


def test_malformed_file_error_has_no_key_material(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    ring = KeyRing.load_or_create(path)
    doc = json.loads(path.read_text())
    secret = doc["keys"][ring.active_id]["key"]
    doc["keys"][ring.active_id]["key"] = secret[:-8]  # wrong length
    path.write_text(json.dumps(doc))
    with pytest.raises(KeyRingError) as info:
        KeyRing.load(path)
    assert secret[:-8] not in str(info.value)
    path.write_text("{not json")
    with pytest.raises(KeyFileError, match="malformed"):
        KeyRing.load(path)
    path.write_text(json.dumps({"format": "other", "version": 1}))
    with pytest.raises(KeyFileError):
        KeyRing.load(path)


def test_missing_file_load_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="does not exist"):
        KeyRing.load(tmp_path / "nope.json")


def test_add_key_rotates_active_and_keeps_old(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    ring = KeyRing.load_or_create(path)
    old = ring.active_id
    old_enc = ring.derive(b"field-encryption", kid=old)
    stable = ring.derive(b"blind-index")
    new = ring.add_key()
    assert new != old
    assert ring.active_id == new
    assert ring.root_id == old
    assert old in ring
    assert new in ring
    assert ring.derive(b"field-encryption", kid=old) == old_enc
    assert ring.derive(b"field-encryption", kid=new) != old_enc
    assert ring.derive(b"blind-index") == stable  # root-derived: stable across rotation
    ring.save()
    assert _mode(path) == 0o600
    again = KeyRing.load(path)
    assert again.active_id == new
    assert again.root_id == old
    assert again.key_ids() == [new, old]
    assert again.derive(b"blind-index") == stable


def test_derivations_are_separated_by_purpose_and_key() -> None:
    ring = KeyRing.generate()
    values = {
        ring.derive(b"uid-remap"),
        ring.derive(b"field-encryption"),
        ring.derive(b"link-tokens"),
        ring.derive(b"uid-remap", kid=ring.active_id),  # same key as root here…
    }
    assert len(values) == 3  # …so equal to the root derivation, others all differ
    assert ring.derive(b"uid-remap") != ring.key(ring.active_id)
    assert len(ring.derive(b"x", length=64)) == 64
    with pytest.raises(ValueError, match="purpose"):
        ring.derive(b"")
    with pytest.raises(UnknownKeyIdError):
        ring.derive(b"x", kid="nope")


def test_from_spec_first_active_last_root() -> None:
    spec = f" new:{_b64(fill=2)} , mid:{_b64(fill=3)},old:{_b64(fill=4)} "
    ring = KeyRing.from_spec(spec)
    assert ring.active_id == "new"
    assert ring.root_id == "old"
    assert ring.key("mid") == bytes([3]) * 32
    assert not ring.development
    assert ring.path is None
    assert ring.refresh() is False


def test_from_spec_accepts_urlsafe_unpadded() -> None:
    key = bytes(range(32))
    text = base64.urlsafe_b64encode(key).decode().rstrip("=")
    assert KeyRing.from_spec(f"a:{text}").key("a") == key


@pytest.mark.parametrize(
    "spec",
    ["", ",", "nokey", f"bad id:{_b64()}", f"a:{_b64(16)}", "a:!!!!", f"a:{_b64()},a:{_b64()}"],
)
def test_from_spec_rejects_bad_input_without_echoing_it(spec: str) -> None:
    with pytest.raises(KeyRingError) as info:
        KeyRing.from_spec(spec)
    for part in spec.split(","):
        secret = part.partition(":")[2]
        if len(secret) > 8:
            assert secret not in str(info.value)


def test_open_keyring_prefers_spec_and_creates_nothing(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    ring = open_keyring(path, f"prod:{_b64()}")
    assert ring.active_id == "prod"
    assert not path.exists()
    dev = open_keyring(path, "  ")
    assert dev.development
    assert path.exists()


def test_repr_hides_keys() -> None:
    ring = KeyRing.generate()
    key = ring.key(ring.active_id)
    text = repr(ring)
    assert base64.b64encode(key).decode() not in text
    assert key.hex() not in text
    assert ring.active_id in text


def test_refresh_sees_rotation_by_another_process(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    running = KeyRing.load_or_create(path)
    assert running.refresh() is False
    other = KeyRing.load(path)
    new = other.add_key()
    other.save()
    assert new not in running
    assert running.refresh() is True
    assert new in running
    assert running.active_id == new
    assert running.refresh() is False


def test_rotation_pending_marker_persists(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    ring = KeyRing.load_or_create(path)
    kid = ring.add_key()
    ring.set_rotation_pending(kid)
    ring.save()
    assert KeyRing.load(path).rotation_pending == kid
    with pytest.raises(UnknownKeyIdError):
        ring.set_rotation_pending("nope")
    ring.set_rotation_pending(None)
    ring.save()
    assert KeyRing.load(path).rotation_pending is None


def test_save_without_path_is_an_error() -> None:
    with pytest.raises(KeyRingError):
        KeyRing.generate().save()


def test_info_lists_public_facts_only() -> None:
    ring = KeyRing.generate()
    ring.add_key(kid="second")
    infos = ring.info()
    assert [i.kid for i in infos] == ["second", ring.root_id]
    assert infos[0].active
    assert not infos[0].root
    assert infos[1].root
    assert not infos[1].active
