"""Broadcasts: segments, languages, dedupe, schedules, cancel, reports and alerts."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.cases import broadcast_cli
from bot.cases.broadcasts import (
    BROADCAST,
    MAX_CAPTION,
    BroadcastError,
    BroadcastService,
    BroadcastStatus,
    Kind,
)
from bot.cases.escalation import Timers
from bot.clock import ManualClock
from bot.config import Settings
from bot.domain import Role, Status
from bot.i18n import LANGUAGE_NAMES, Catalogs
from bot.outbox import Outbox
from bot.storage.database import Database
from bot.storage.models import OutboxMessage
from tests.cases.conftest import Factory


@pytest.fixture
def outbox(db: Database, clock: ManualClock) -> Outbox:
    return Outbox(db, clock)


@pytest.fixture
def service(db: Database, clock: ManualClock, outbox: Outbox) -> BroadcastService:
    return BroadcastService(db, clock, outbox, Timers(db, clock), Catalogs())


async def rows(db: Database) -> list[OutboxMessage]:
    async with db.transaction() as session:
        return list(await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


async def test_segment_all_criteria_and_one_message_per_person(
    service: BroadcastService, factory: Factory, db: Database
) -> None:
    pune_hw = await factory.health_worker(district="Pune", language="hi")
    pune_sp = await factory.specialist("radiology", district="Pune")
    await factory.health_worker(district="Nashik")
    await factory.health_worker(district="Pune", status=Status.SUSPENDED)
    await factory.health_worker(district="Pune", reachable=False)
    # roles OR-ed within a criterion, criteria AND-ed: Pune health workers and specialists
    segment = {"roles": ["health_worker", "specialist"], "districts": ["Pune"]}
    found = await service.resolve(segment)
    assert [u.id for u in found] == [pune_hw.id, pune_sp.id]
    assert [u.id for u in await service.resolve({"specialties": ["radiology"]})] == [pune_sp.id]
    assert [u.id for u in await service.resolve({"languages": ["hi"]})] == [pune_hw.id]

    bid = await service.create(
        None, texts={"en": "Camp on Friday", "hi": "शुक्रवार को शिविर"}, segment=segment
    )
    assert await service.send(bid) == 2
    sent = await rows(db)
    assert sorted((r.chat_id, r.params["text"]) for r in sent) == sorted(
        [(pune_hw.telegram_id, "शुक्रवार को शिविर"), (pune_sp.telegram_id, "Camp on Friday")]
    )
    assert {r.dedupe_key for r in sent} == {
        f"broadcast:{bid}:{pune_hw.id}",
        f"broadcast:{bid}:{pune_sp.id}",
    }
    # sending again (a retry, a double tap) queues nothing new
    assert await service.send(bid) == 0
    assert len(await rows(db)) == 2
    report = await service.report(bid)
    assert (report.recipients, report.queued, report.sent) == (2, 2, 0)
    assert report.by_language == {"hi": 1, "en": 1}


async def test_language_fallback_and_english_required(
    service: BroadcastService, factory: Factory, db: Database
) -> None:
    hindi = await factory.health_worker(language="hi")
    bid = await service.create(None, texts={"hi": "केवल हिंदी"})
    with pytest.raises(BroadcastError):
        await service.send(bid)
    await service.update_draft(bid, text=("en", "English only"))
    await service.update_draft(bid, text=("hi", ""))
    assert await service.send(bid) == 1
    (row,) = await rows(db)
    assert row.chat_id == hindi.telegram_id
    assert row.params["text"] == "English only"
    assert (await service.report(bid)).by_language == {"en": 1}


async def test_schedule_fires_once_after_restart(
    service: BroadcastService,
    factory: Factory,
    db: Database,
    clock: ManualClock,
    outbox: Outbox,
) -> None:
    await factory.health_worker()
    bid = await service.create(None, texts={"en": "Vaccination camp"})
    at = clock.now() + timedelta(hours=2)
    await service.schedule(bid, at)
    assert (await service.get(bid)).status is BroadcastStatus.SCHEDULED  # type: ignore[union-attr]
    timers = Timers(db, clock)
    assert await timers.due(clock.now()) == []
    clock.advance(timedelta(hours=3))
    # "restart": a fresh service and a fresh timers object over the same database,
    # and two of them ticking at once
    again = BroadcastService(db, clock, outbox, Timers(db, clock), Catalogs())
    due = await timers.due(clock.now())
    assert [kind for _, _, kind in due] == [BROADCAST]
    fired = [await s.fire(due[0][0], None, clock.now()) for s in (again, service)]
    assert fired == [True, False]
    assert len(await rows(db)) == 1
    assert await timers.due(clock.now() + timedelta(days=30)) == []


async def test_weekly_schedule_sends_a_copy_each_week(
    service: BroadcastService, factory: Factory, db: Database, clock: ManualClock
) -> None:
    await factory.health_worker()
    bid = await service.create(None, texts={"en": "Clinic day"})
    await service.schedule(bid, clock.now() + timedelta(minutes=5), weekly=True)
    timers = Timers(db, clock)
    for week in range(2):
        clock.advance(timedelta(days=7) if week else timedelta(minutes=10))
        (due,) = await timers.due(clock.now())
        assert await service.fire(due[0], None, clock.now())
    assert len(await rows(db)) == 2  # one per week, each its own broadcast
    assert len(await timers.pending()) == 1


async def test_cancel_scheduled_and_running(
    service: BroadcastService, factory: Factory, db: Database, clock: ManualClock
) -> None:
    for _ in range(3):
        await factory.health_worker()
    scheduled = await service.create(None, texts={"en": "later"})
    await service.schedule(scheduled, clock.now() + timedelta(hours=1))
    await service.cancel(scheduled)
    clock.advance(timedelta(hours=2))
    timers = Timers(db, clock)
    (due,) = await timers.due(clock.now())
    assert await service.fire(due[0], None, clock.now())
    assert await rows(db) == []

    running = await service.create(None, texts={"en": "now"})
    await service.send(running)
    assert await service.cancel(running) == 3
    report = await service.report(running)
    assert (report.queued, report.cancelled) == (0, 3)
    assert (await service.get(running)).status is BroadcastStatus.CANCELLED  # type: ignore[union-attr]


async def test_report_counts_follow_the_outbox(
    service: BroadcastService, factory: Factory, db: Database, outbox: Outbox
) -> None:
    for _ in range(4):
        await factory.user(Role.SPECIALIST)
    bid = await service.create(None, texts={"en": "hello"})
    await service.send(bid)
    outcomes = ["sent", "blocked", "failed"]
    for outcome in outcomes:
        (due,) = await outbox.due(1)
        claimed = await outbox.claim(due.id)
        assert claimed is not None
        if outcome == "sent":
            await outbox.sent(claimed, 7)
        elif outcome == "blocked":
            await outbox.blocked(claimed, "403")
        else:
            await outbox.failed(claimed, "400")
    report = await service.report(bid)
    assert (report.recipients, report.queued, report.sent, report.blocked, report.failed) == (
        4,
        1,
        1,
        1,
        1,
    )
    assert (await service.get(bid)).status is BroadcastStatus.SENDING  # type: ignore[union-attr]
    (due,) = await outbox.due(1)
    claimed = await outbox.claim(due.id)
    assert claimed is not None
    await outbox.sent(claimed, 8)
    assert (await service.report(bid)).sent == 2
    assert (await service.get(bid)).status is BroadcastStatus.DONE  # type: ignore[union-attr]


async def test_alert_seen_unseen_and_resend(
    service: BroadcastService, factory: Factory, db: Database, clock: ManualClock
) -> None:
    a = await factory.health_worker()
    b = await factory.health_worker(language="hi")
    outsider = await factory.health_worker(district="Nashik")
    bid = await service.create(
        None, Kind.ALERT, texts={"en": "Road closed"}, segment={"districts": ["Pune"]}
    )
    await service.send(bid)
    first = await rows(db)
    assert all(r.priority == 1 for r in first)
    assert first[0].params["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == (
        f"seen:{bid}"
    )
    assert await service.mark_seen(a.id, bid)
    assert await service.mark_seen(a.id, bid)  # a second tap is harmless
    assert not await service.mark_seen(outsider.id, bid)
    assert [u.id for u in await service.unseen(bid)] == [b.id]
    assert (await service.report(bid)).seen == 1
    clock.advance(timedelta(minutes=30))
    assert await service.resend_unseen(bid) == 1
    resent = (await rows(db))[len(first) :]
    assert [r.chat_id for r in resent] == [b.telegram_id]
    plain = await service.create(None, texts={"en": "x"})
    with pytest.raises(BroadcastError):
        await service.resend_unseen(plain)


@pytest.fixture
def cli_env(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.delenv("ROSTER_TIMEZONE", raising=False)


async def cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run ``sampark broadcast`` in a thread (it runs its own event loop)."""
    code = await asyncio.to_thread(broadcast_cli.main, argv)
    out, err = capsys.readouterr()
    return code, out, err


async def test_cli_send_schedule_report_cancel(
    cli_env: None, factory: Factory, db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    await factory.health_worker(language="hi")
    await factory.health_worker(district="Nashik")
    await factory.specialist()
    code, out, _ = await cli(
        [
            "send",
            "--text-en",
            "Camp",
            "--text-hi",
            "शिविर",
            "--role",
            "health_worker",
            "--district",
            "Pune",
            "--alert",
        ],
        capsys,
    )
    assert code == 0, out
    bid = int(out.split()[1].rstrip(":"))
    assert "1 messages queued" in out
    (row,) = await rows(db)
    assert row.params["text"].endswith("शिविर")
    code, out, _ = await cli(["report", str(bid)], capsys)
    assert code == 0
    assert "recipients 1\tqueued 1" in out
    assert "seen 0 of 1" in out
    assert "replies 0" in out
    service = BroadcastService(
        db, ManualClock(), Outbox(db, ManualClock()), Timers(db, ManualClock()), Catalogs()
    )
    worker = await factory.health_worker(name="Asha Rao")
    await service.replies.record(bid, worker, "Need more ORS\nat PHC")
    code, out, _ = await cli(["report", str(bid)], capsys)
    assert "replies 1" in out
    assert "Asha Rao (Health worker):\n    Need more ORS\n    at PHC" in out
    code, out, _ = await cli(["send", "--text-en", "later", "--at", "2099-01-05T09:00"], capsys)
    assert code == 0
    assert "2099-01-05T09:00:00+05:30" in out
    later = int(out.split()[1])
    code, out, _ = await cli(["cancel", str(later)], capsys)
    assert code == 0
    code, _, err = await cli(["report", "999"], capsys)
    assert code == 1
    assert "no broadcast" in err
    code, _, err = await cli(["send", "--role", "nobody", "--text-en", "x"], capsys)
    assert code == 2
    assert "invalid choice" in err


async def test_a_text_in_every_language_and_its_caption(
    service: BroadcastService, factory: Factory, db: Database
) -> None:
    """Each of the 13 languages gets its own text, as the caption under a photo too."""
    readers = {code: await factory.health_worker(language=code) for code in LANGUAGE_NAMES}
    texts = {
        code: (f"{name} " * 300)[: MAX_CAPTION - 1] + "." for code, name in LANGUAGE_NAMES.items()
    }
    bid = await service.create(None, Kind.ALERT, texts=texts)
    with pytest.raises(BroadcastError):
        await service.update_draft(bid, text=("xx", "no such language"))
    await service.update_draft(bid, attachment={"type": "photo", "file_id": "AgAD"})
    assert await service.send(bid) == len(LANGUAGE_NAMES)
    by_chat = {row.chat_id: row.params["caption"] for row in await rows(db)}
    for code, user in readers.items():
        caption = by_chat[user.telegram_id]
        heading = service.catalogs.get(code)._("⚠️ ALERT")
        assert caption.startswith(heading), code
        assert len(caption) == MAX_CAPTION  # heading + text, cut at Telegram's limit
        assert texts[code].strip()[:100] in caption, code
    report = await service.report(bid)
    assert report.by_language == dict.fromkeys(LANGUAGE_NAMES, 1)


async def test_cli_texts_for_any_language(
    cli_env: None, factory: Factory, db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--text LANG=TEXT`` for any language; ``--text-en``/``--text-hi`` still work."""
    people = {code: await factory.health_worker(language=code) for code in ("ta", "ur", "bn", "hi")}
    tamil, urdu = "ஞாயிறு அன்று போலியோ முகாம்", "اتوار کو پولیو مہم"
    code, out, err = await cli(
        [
            *("send", "--text", "en=Polio drive", "--text", f"ta={tamil}", "--text", f"UR={urdu}"),
            *("--text-hi", "पोलियो अभियान", "--role", "health_worker"),
        ],
        capsys,
    )
    assert code == 0, err
    assert "4 messages queued" in out
    got = {row.chat_id: row.params["text"] for row in await rows(db)}
    assert {c: got[u.telegram_id] for c, u in people.items()} == {
        "ta": tamil,
        "ur": urdu,
        "bn": "Polio drive",
        "hi": "पोलियो अभियान",
    }
    for argv, message in (
        (["--text", "ta=" + tamil], "English text is required"),
        (["--text", "en=a", "--text-en", "b"], "two texts for 'en'"),
        (["--text", "xx=hello", "--text-en", "b"], "LANG=TEXT"),
        (["--text", "hello", "--text-en", "b"], "LANG=TEXT"),
        (["--text", "en= "], "empty"),
    ):
        code, _, err = await cli(["send", *argv], capsys)
        assert code == 2, argv
        assert message in err, err
    assert len(await rows(db)) == 4
