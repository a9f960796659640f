"""Upload links: token rules, offsets, checksums, limits, expiry, one-time use, and the
file encrypted at rest while it arrives."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.accounts.directory import UserView
from bot.cases.attachments import AttachmentOutcome
from bot.cases.uploads import (
    CHUNK_LIMIT,
    Problem,
    UploadRefused,
    UploadService,
    UploadState,
    UploadView,
    parse_checksum,
)
from bot.clock import ManualClock
from bot.config import Settings
from bot.domain import CaseStatus, Role
from bot.security.blobstore import LocalBlobStore
from bot.security.keys import open_keyring
from bot.storage.database import Database
from bot.storage.models import Case, Upload, UploadSegment
from tests.cases.conftest import Factory

KB = 1024


@dataclass
class FakeAttachments:
    """Stands in for the imaging pipeline: keeps what it was given."""

    received: list[tuple[int, str, bytes, str | None]] = field(default_factory=list)

    async def add(
        self,
        case_id: int,
        code: str,
        data: bytes,
        filename: str,
        mime: str | None,
        *,
        file_unique_id: str | None = None,
    ) -> AttachmentOutcome:
        self.received.append((case_id, code, data, file_unique_id))
        return AttachmentOutcome(ok=True, kind="zip", modality="CT", frames=3, attachment_id=None)


@dataclass
class RecordingNotifier:
    progress_seen: list[int] = field(default_factory=list)
    finished_seen: list[AttachmentOutcome] = field(default_factory=list)
    abandoned_seen: list[int] = field(default_factory=list)

    async def progress(self, upload: UploadView, percent: int) -> None:
        self.progress_seen.append(percent)

    async def finished(self, upload: UploadView, outcome: AttachmentOutcome) -> None:
        self.finished_seen.append(outcome)

    async def abandoned(self, upload: UploadView) -> None:
        self.abandoned_seen.append(upload.id)


@dataclass
class Rig:
    service: UploadService
    attachments: FakeAttachments
    notifier: RecordingNotifier
    blobs: LocalBlobStore
    worker: UserView
    case_id: int


def sha256(data: bytes) -> tuple[str, bytes]:
    return "sha256", hashlib.sha256(data).digest()


def header(algorithm: str, data: bytes) -> str:
    return f"{algorithm} " + base64.b64encode(hashlib.new(algorithm, data).digest()).decode()


@pytest.fixture
async def rig(db: Database, factory: Factory, clock: ManualClock, settings: Settings) -> Rig:
    keyring = open_keyring(settings.effective_keys_file)
    blobs = LocalBlobStore(settings.blob_dir, keyring)
    attachments = FakeAttachments()
    notifier = RecordingNotifier()
    service = UploadService(
        db,
        clock,
        keyring,
        blobs,
        attachments,  # type: ignore[arg-type]
        max_bytes=8 * CHUNK_LIMIT,
        ttl=timedelta(hours=24),
        notifier=notifier,
    )
    worker = await factory.health_worker()
    case_id = await factory.case(worker, status=CaseStatus.DRAFT)
    return Rig(service, attachments, notifier, blobs, worker, case_id)


def scan(root: Path, needle: bytes) -> tuple[list[Path], list[Path]]:
    """Every file under ``root``, and those containing ``needle``."""
    files = [p for p in root.rglob("*") if p.is_file()]
    return files, [p for p in files if needle in p.read_bytes()]


async def send_all(service: UploadService, token: str, data: bytes, chunk: int) -> UploadView:
    view = await service.create(token, len(data))
    while view.offset < len(data):
        piece = data[view.offset : view.offset + chunk]
        view = await service.append(token, view.offset, piece, sha256(piece))
    return view


async def refused(problem: Problem, call: Any) -> UploadRefused:
    with pytest.raises(UploadRefused) as caught:
        await call
    assert caught.value.problem is problem
    return caught.value


# ---------------------------------------------------------------------- tokens


async def test_token_is_random_and_only_its_hash_is_stored(rig: Rig, db: Database) -> None:
    first = await rig.service.issue(rig.worker.telegram_id, rig.worker.telegram_id)
    second = await rig.service.issue(rig.worker.telegram_id, rig.worker.telegram_id)
    assert first is not None
    assert second is not None
    assert first.token != second.token
    assert len(base64.urlsafe_b64decode(first.token + "==")) * 8 >= 128
    async with db.transaction() as session:
        rows = (await session.scalars(select(Upload))).all()
    stored = {value for row in rows for value in vars(row).values() if isinstance(value, str)}
    assert first.token not in stored
    assert rig.service.token_hash(first.token) in stored
    assert all(first.token not in value for value in stored)


async def test_unknown_and_malformed_tokens_are_404(rig: Rig) -> None:
    await refused(Problem.UNKNOWN, rig.service.status("A" * 32))
    await refused(Problem.UNKNOWN, rig.service.status("../../etc/passwd"))
    await refused(Problem.UNKNOWN, rig.service.status(""))
    assert Problem.UNKNOWN.status == 404
    assert Problem.GONE.status == 410


async def test_only_a_health_worker_with_an_open_draft_gets_a_link(
    rig: Rig, factory: Factory
) -> None:
    specialist = await factory.user(Role.SPECIALIST, specialties=("radiology",))
    assert await rig.service.issue(specialist.telegram_id, specialist.telegram_id) is None
    idle = await factory.health_worker()
    assert await rig.service.issue(idle.telegram_id, idle.telegram_id) is None
    issued = await rig.service.issue(rig.worker.telegram_id, rig.worker.telegram_id)
    assert issued is not None
    view = await rig.service.status(issued.token)
    assert view.case_id == rig.case_id
    assert view.state is UploadState.OPEN


# ---------------------------------------------------------------------- protocol


async def test_whole_file_arrives_in_order_and_goes_to_the_pipeline(rig: Rig) -> None:
    issued = await rig.service.issue(rig.worker.telegram_id, rig.worker.telegram_id)
    assert issued is not None
    data = os.urandom(3 * CHUNK_LIMIT + 123)
    view = await send_all(rig.service, issued.token, data, CHUNK_LIMIT)
    assert view.offset == len(data)
    assert view.state is UploadState.PROCESSING
    await rig.service.drain()
    [(case_id, _code, got, unique)] = rig.attachments.received
    assert case_id == rig.case_id
    assert got == data
    assert unique == f"upload:{issued.upload_id}"
    assert rig.notifier.progress_seen == [25, 50, 75, 100]
    assert [o.ok for o in rig.notifier.finished_seen] == [True]
    described = await rig.service.describe(issued.token)
    assert described.state is UploadState.DONE
    assert list(rig.blobs.ids()) == []  # the segments are gone once processed


async def test_link_is_spent_after_one_file(rig: Rig) -> None:
    issued = await rig.service.issue(rig.worker.telegram_id, rig.worker.telegram_id)
    assert issued is not None
    await send_all(rig.service, issued.token, b"x" * 1000, 400)
    await rig.service.drain()
    await refused(Problem.GONE, rig.service.status(issued.token))
    await refused(Problem.GONE, rig.service.create(issued.token, 1000))
    piece = b"y"
    await refused(Problem.GONE, rig.service.append(issued.token, 0, piece, sha256(piece)))


async def test_wrong_offset_is_a_conflict_with_the_current_offset(rig: Rig) -> None:
    issued = await rig.service.issue(rig.worker.telegram_id, rig.worker.telegram_id)
    assert issued is not None
    token = issued.token
    await rig.service.create(token, 10 * KB)
    piece = b"a" * KB
    await rig.service.append(token, 0, piece, sha256(piece))
    again = await refused(Problem.CONFLICT, rig.service.append(token, 0, piece, sha256(piece)))
    assert again.offset == KB
    ahead = await refused(Problem.CONFLICT, rig.service.append(token, 5 * KB, piece, sha256(piece)))
    assert ahead.offset == KB
    assert (await rig.service.status(token)).offset == KB


async def test_checksums_are_checked_sha1_and_sha256(rig: Rig) -> None:
    issued = await rig.service.issue(rig.worker.telegram_id, rig.worker.telegram_id)
    assert issued is not None
    token = issued.token
    await rig.service.create(token, 2 * KB)
    piece = b"b" * KB
    bad = await refused(
        Problem.CHECKSUM,
        rig.service.append(token, 0, piece, parse_checksum(header("sha1", b"other"))),
    )
    assert bad.offset == 0
    assert (await rig.service.status(token)).offset == 0
    view = await rig.service.append(token, 0, piece, parse_checksum(header("sha1", piece)))
    view = await rig.service.append(token, KB, piece, parse_checksum(header("sha256", piece)))
    assert view.offset == 2 * KB
    assert Problem.CHECKSUM.status == 460


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "md5 AAAA",
        "sha1",
        "sha1 not-base64!",
        "sha256 " + base64.b64encode(b"short").decode(),
    ],
)
async def test_malformed_checksum_header_is_a_bad_request(value: str | None) -> None:
    with pytest.raises(UploadRefused) as caught:
        parse_checksum(value)
    assert caught.value.problem is Problem.BAD_REQUEST


async def test_limits(rig: Rig) -> None:
    issued = await rig.service.issue(rig.worker.telegram_id, rig.worker.telegram_id)
    assert issued is not None
    token = issued.token
    await refused(Problem.TOO_LARGE, rig.service.create(token, 8 * CHUNK_LIMIT + 1))
    await refused(Problem.BAD_REQUEST, rig.service.create(token, 0))
    await rig.service.create(token, 2 * KB)
    conflict = await refused(Problem.CONFLICT, rig.service.create(token, 3 * KB))
    assert conflict.offset == 0
    assert (await rig.service.create(token, 2 * KB)).length == 2 * KB  # a lost response
    big = b"c" * (CHUNK_LIMIT + 1)
    await refused(Problem.TOO_LARGE, rig.service.append(token, 0, big, sha256(big)))
    past = b"d" * (3 * KB)
    await refused(Problem.TOO_LARGE, rig.service.append(token, 0, past, sha256(past)))


async def test_two_requests_racing_for_one_offset_land_once(rig: Rig) -> None:
    issued = await rig.service.issue(rig.worker.telegram_id, rig.worker.telegram_id)
    assert issued is not None
    token = issued.token
    await rig.service.create(token, 4 * KB)
    one, two = b"1" * KB, b"2" * KB
    results = await asyncio.gather(
        rig.service.append(token, 0, one, sha256(one)),
        rig.service.append(token, 0, two, sha256(two)),
        return_exceptions=True,
    )
    won = [r for r in results if isinstance(r, UploadView)]
    lost = [r for r in results if isinstance(r, UploadRefused)]
    assert len(won) == 1
    assert len(lost) == 1
    assert lost[0].problem is Problem.CONFLICT
    assert (await rig.service.status(token)).offset == KB
    assert len(list(rig.blobs.ids())) == 1  # the loser's segment was deleted


# ---------------------------------------------------------------------- expiry


async def test_expired_link_is_gone_and_its_segments_deleted(
    rig: Rig, clock: ManualClock, db: Database
) -> None:
    issued = await rig.service.issue(rig.worker.telegram_id, rig.worker.telegram_id)
    assert issued is not None
    token = issued.token
    await rig.service.create(token, 4 * KB)
    piece = b"e" * KB
    await rig.service.append(token, 0, piece, sha256(piece))
    assert len(list(rig.blobs.ids())) == 1
    clock.advance(timedelta(hours=24, seconds=1))
    await refused(Problem.GONE, rig.service.status(token))
    await refused(Problem.GONE, rig.service.append(token, KB, piece, sha256(piece)))
    assert await rig.service.expire_stale() == 1
    assert list(rig.blobs.ids()) == []
    async with db.transaction() as session:
        assert (await session.scalars(select(UploadSegment))).all() == []
    assert (await rig.service.describe(token)).state is UploadState.EXPIRED


async def test_link_dies_with_its_draft(rig: Rig, db: Database) -> None:
    issued = await rig.service.issue(rig.worker.telegram_id, rig.worker.telegram_id)
    assert issued is not None
    async with db.transaction() as session:
        case = await session.get(Case, rig.case_id)
        assert case is not None
        case.status = CaseStatus.CANCELLED
    await refused(Problem.GONE, rig.service.status(issued.token))
    await refused(Problem.GONE, rig.service.create(issued.token, 10))


async def test_file_finished_after_the_draft_was_sent_is_not_added(rig: Rig, db: Database) -> None:
    issued = await rig.service.issue(rig.worker.telegram_id, rig.worker.telegram_id)
    assert issued is not None
    token = issued.token
    await rig.service.create(token, 2 * KB)
    piece = b"f" * KB
    await rig.service.append(token, 0, piece, sha256(piece))

    async def submit_meanwhile() -> None:
        async with db.transaction() as session:
            case = await session.get(Case, rig.case_id)
            assert case is not None
            case.status = CaseStatus.SUBMITTED

    last = rig.service.append(token, KB, piece, sha256(piece))
    await last
    await submit_meanwhile()
    await rig.service.drain()
    # processing either ran before the submission (added) or after it (abandoned): never both
    assert len(rig.attachments.received) + len(rig.notifier.abandoned_seen) == 1
    assert list(rig.blobs.ids()) == []


# ---------------------------------------------------------------------- at rest


async def test_no_plaintext_under_the_data_directory(rig: Rig, settings: Settings) -> None:
    issued = await rig.service.issue(rig.worker.telegram_id, rig.worker.telegram_id)
    assert issued is not None
    token = issued.token
    marker = b"PATIENT-RAMESH-KUMAR-" * 64
    data = marker * 40  # about 53 KB, recognisable anywhere
    await rig.service.create(token, len(data) * 2)
    for start in range(0, len(data), 16 * KB):
        piece = data[start : start + 16 * KB]
        await rig.service.append(token, start, piece, sha256(piece))
    files, leaking = scan(Path(settings.data_dir), b"PATIENT-RAMESH-KUMAR")
    assert any("objects" in str(p) for p in files)  # the segments are there, encrypted
    assert leaking == []
    assert (await rig.service.status(token)).offset == len(data)


# ---------------------------------------------------------------------- restarts


async def test_a_finished_upload_is_processed_after_a_restart_and_only_once(
    rig: Rig, db: Database, clock: ManualClock, settings: Settings
) -> None:
    issued = await rig.service.issue(rig.worker.telegram_id, rig.worker.telegram_id)
    assert issued is not None
    spawned: list[Any] = []
    rig.service._spawn = spawned.append  # type: ignore[method-assign]  # the process "dies"
    data = os.urandom(3 * KB)
    await send_all(rig.service, issued.token, data, KB)
    assert len(spawned) == 1
    spawned[0].close()
    assert rig.attachments.received == []

    def restarted() -> UploadService:
        keyring = open_keyring(settings.effective_keys_file)
        return UploadService(
            db,
            clock,
            keyring,
            LocalBlobStore(settings.blob_dir, keyring),
            rig.attachments,  # type: ignore[arg-type]
            notifier=rig.notifier,
        )

    first, second = restarted(), restarted()
    assert await first.resume_unfinished() == 1
    await second.resume_unfinished()  # may see it too: only one claim succeeds
    await asyncio.gather(first.drain(), second.drain())
    assert [got for _, _, got, _ in rig.attachments.received] == [data]
    assert (await first.describe(issued.token)).state is UploadState.DONE
    assert await first.resume_unfinished() == 0
