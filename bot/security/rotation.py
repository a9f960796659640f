"""Master key rotation: ``sampark keys status | rotate | rewrap | new-key``.

``rotate`` adds a new active master key to the keys file and re-wraps every stored
object's data key under it. Data is never re-encrypted: only the small key block of each
envelope header changes (the file is rewritten atomically, ciphertext copied byte for
byte). It is idempotent and resumable: the keys file records ``rotation_pending`` until
every object is re-wrapped, so re-running an interrupted ``rotate`` continues with the
same new key instead of adding another one; objects already under the active key are
skipped.

Running processes pick up the new key: the blob store re-reads the keys file when it
changes. Encrypted database fields (``bot.security.fields``) are re-encrypted by the
storage layer with ``FieldCipher.rotate``; old keys therefore stay in the ring.
"""

from __future__ import annotations

import argparse
import base64
import logging
import secrets
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bot.security.blobstore import BlobStore, LocalBlobStore
from bot.security.envelope import EnvelopeError
from bot.security.keys import KEY_BYTES, KEYS_ENV_VAR, KeyRing, KeyRingError, new_kid

logger = logging.getLogger(__name__)


@dataclass
class RotationReport:
    """What a rotation or re-wrap did."""

    active_key_id: str
    added_key: bool = False
    resumed: bool = False
    rewrapped: int = 0
    already_current: int = 0
    failed: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def complete(self) -> bool:
        """True when every object is now wrapped under the active key."""
        return not self.failed

    def summary(self) -> str:
        """One human-readable line (no key material)."""
        verb = "resumed rotation to" if self.resumed else "active key"
        if self.added_key:
            verb = "new active key"
        text = (
            f"{verb} {self.active_key_id}: {self.rewrapped} re-wrapped, "
            f"{self.already_current} already current, {len(self.failed)} failed "
            f"in {self.seconds:.2f} s"
        )
        if self.failed:
            text += "; failed ids: " + ", ".join(self.failed[:20])
        return text


def rewrap_all(store: BlobStore, keyring: KeyRing, report: RotationReport) -> RotationReport:
    """Re-wrap every object of ``store`` under ``keyring``'s active key, filling ``report``."""
    started = time.perf_counter()
    for blob_id in list(store.ids()):
        try:
            if store.rewrap_one(blob_id, keyring):
                report.rewrapped += 1
            else:
                report.already_current += 1
        except (EnvelopeError, OSError) as exc:
            logger.error("re-wrap failed for blob %s: %s", blob_id, type(exc).__name__)
            report.failed.append(blob_id)
    report.seconds += time.perf_counter() - started
    return report


def rotate_keys(keys_path: Path, blob_root: Path, *, add_key: bool = True) -> RotationReport:
    """Add a new master key (unless a rotation is pending) and re-wrap every object.

    With ``add_key=False`` only re-wraps under the current active key.
    Raises :class:`KeyRingError` if the keys file is missing or unsafe.
    """
    started = time.perf_counter()
    ring = KeyRing.load(keys_path)
    report = RotationReport(active_key_id=ring.active_id)
    if ring.rotation_pending and ring.rotation_pending == ring.active_id:
        report.resumed = True
    elif add_key:
        ring.add_key()
        ring.set_rotation_pending(ring.active_id)
        ring.save(keys_path)
        report.added_key = True
        report.active_key_id = ring.active_id
        logger.info("added master key %s; re-wrapping objects", ring.active_id)
    store = LocalBlobStore(blob_root, ring)
    rewrap_all(store, ring, report)
    if report.complete and ring.rotation_pending:
        ring.set_rotation_pending(None)
        ring.save(keys_path)
    report.seconds = time.perf_counter() - started
    return report


def key_usage(store: BlobStore) -> Counter[str]:
    """How many objects are wrapped under each key id (reads headers only)."""
    usage: Counter[str] = Counter()
    for blob_id in store.ids():
        try:
            usage[store.key_id(blob_id)] += 1
        except (EnvelopeError, OSError):
            usage["<unreadable>"] += 1
    return usage


def new_key_spec() -> str:
    """A fresh ``KID:BASE64`` entry for ``SAMPARK_MASTER_KEYS``."""
    return f"{new_kid()}:{base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode('ascii')}"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sampark keys", description="Master keys of the encrypted store."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("status", help="list key ids (never key material) and objects per key")
    sub.add_parser("rotate", help="add a new active key and re-wrap every object under it")
    sub.add_parser("rewrap", help="re-wrap objects not yet under the active key")
    sub.add_parser("new-key", help=f"print a fresh KID:BASE64 entry for {KEYS_ENV_VAR}")
    return parser


def _env_spec(settings: object) -> str | None:
    value = getattr(settings, "master_keys", None)
    if value is None:
        return None
    secret = getattr(value, "get_secret_value", None)
    text = secret() if callable(secret) else value
    return str(text) if text else None


def main(argv: list[str]) -> int:
    """Entry point of ``sampark keys …``; returns the exit status (never a traceback)."""
    from bot.config import ConfigError, load_settings

    args = _parser().parse_args(argv)
    if args.command == "new-key":
        print(new_key_spec())
        return 0
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    keys_path = settings.effective_keys_file
    spec = _env_spec(settings)
    try:
        if args.command == "status":
            ring = KeyRing.from_spec(spec) if spec else KeyRing.load(keys_path)
            source = KEYS_ENV_VAR if spec else str(keys_path)
            print(f"keys from {source}{' (DEVELOPMENT keys)' if ring.development else ''}")
            for info in ring.info():
                flags = [name for name, on in (("active", info.active), ("root", info.root)) if on]
                print(f"  {info.kid}  created {info.created or '?'}  {' '.join(flags)}")
            if ring.rotation_pending:
                print(f"rotation to {ring.rotation_pending} pending: run `sampark keys rotate`")
            if settings.blob_dir.exists():
                usage = key_usage(LocalBlobStore(settings.blob_dir, ring))
                for kid, count in sorted(usage.items()):
                    print(f"  objects under {kid}: {count}")
            return 0
        if args.command == "rotate":
            if spec:
                print(
                    f"Keys come from {KEYS_ENV_VAR}; rotate them there: prepend the entry "
                    "printed by `sampark keys new-key`, restart, then run `sampark keys rewrap`.",
                    file=sys.stderr,
                )
                return 2
            report = rotate_keys(keys_path, settings.blob_dir)
        else:  # rewrap
            if spec:
                ring = KeyRing.from_spec(spec)
                report = rewrap_all(
                    LocalBlobStore(settings.blob_dir, ring),
                    ring,
                    RotationReport(active_key_id=ring.active_id),
                )
            else:
                report = rotate_keys(keys_path, settings.blob_dir, add_key=False)
    except KeyRingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: {exc.strerror or exc} ({exc.filename or 'data directory'})", file=sys.stderr)
        return 2
    print(report.summary())
    return 0 if report.complete else 1
