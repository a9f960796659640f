"""Rosters through the emulator: /oncall, /roster as a picture, button dialogues, CSV."""

from __future__ import annotations

from datetime import timedelta

from bot.cases import roster_csv
from bot.cases.coverage import GAP_REPORT, DailyGaps
from bot.cases.escalation import Timers
from bot.clock import ManualClock
from bot.handlers import rosters
from bot.i18n import Translator
from bot.sandbox.script import Person
from tests.e2e.conftest import World
from tests.e2e.people import coordinator, health_worker, specialist

HEADER = "user_id,registration_number,name,specialty,day,date,from,to,available\n"


def en(world: World) -> Translator:
    return world.catalogs.get("en")


async def user_id(world: World, person: Person) -> int:
    user = await world.services.directory.by_telegram(person.id)
    assert user is not None
    return user.id


async def test_oncall_shows_names_only(world: World) -> None:
    tr = en(world)
    await specialist(world, "Dr. Meera Iyer")
    await specialist(world, "Dr. Kavya Shetty", specialty="medicine")
    await world.services.rosters.remove(  # medicine: nobody on call on Monday
        next(v.id for v in await world.services.rosters.list_shifts("medicine") if v.weekday == 0)
    )
    sunita = await health_worker(world, language="en")
    await sunita.send("/oncall")
    reply = await sunita.expect(
        tr._("{specialty}: {names}", specialty=tr._("Radiology"), names="Dr. Meera Iyer"),
        tr._("Nobody on call: {specialties}", specialties=tr._("General medicine")),
    )
    assert "KMC" not in (reply.text or "") and "+91" not in (reply.text or "")
    stranger = await world.person("Stranger")
    await stranger.send("/oncall")
    await stranger.expect(tr._(rosters.ONLY_MEMBERS))


async def test_roster_picture_and_a_weekly_shift_by_buttons(world: World) -> None:
    tr = en(world)
    ravi = await coordinator(world)
    meera = await specialist(world, "Dr. Meera Iyer")
    meera_id = await user_id(world, meera)
    for shift in await world.services.rosters.list_shifts():
        await world.services.rosters.remove(shift.id)
    await ravi.send("/roster")
    photo = await ravi.expect(
        tr._("This week's on-call roster (times in {zone}).", zone="Asia/Kolkata")
    )
    assert photo.attachment is not None and photo.attachment.type == "photo"
    assert tr._("➕ Weekly shift") in photo.button_texts()

    await ravi.tap(photo, tr._("➕ Weekly shift"))
    dialogue = await ravi.expect(tr._("New weekly shift"), tr._("Which specialty?"))
    await ravi.tap(dialogue, tr._("Radiology"))
    step = await ravi.expect_edit(dialogue, tr._("Who?"))
    await ravi.tap(step, "Dr. Meera Iyer")
    step = await ravi.expect_edit(dialogue, tr._("Which day of the week?"))
    await ravi.tap(step, "Monday")
    step = await ravi.expect_edit(dialogue, tr._("From what time?"))
    await ravi.tap(step, "20:00")
    step = await ravi.expect_edit(dialogue, tr._("Until what time?"))
    assert "08:00 (+1)" in step.button_texts()
    await ravi.tap(step, "08:00 (+1)")
    await ravi.expect_edit(dialogue, "✅", "Dr. Meera Iyer", "20:00–08:00")
    [shift] = await world.services.rosters.list_shifts()
    assert (shift.specialist_id, shift.when) == (meera_id, "Mon 20:00-08:00")

    # A forged tap: a specialist id that is no specialist, an hour out of range.
    forged = await ravi.tap(step, f"rs:radiology:{meera_id}:0:20:99", forged=True)
    await ravi.alert(forged, tr._("This button is no longer valid."))
    forged = await ravi.tap(step, "rs:radiology:1:0", forged=True)
    await ravi.alert(forged, tr._("This button is no longer valid."))
    # Double tap on the last step: the same shift is not added twice.
    again = await ravi.tap(step, f"rs:radiology:{meera_id}:0:20:8", forged=True)
    await ravi.alert(again, tr._("This shift is already in the roster."))
    assert len(await world.services.rosters.list_shifts()) == 1


async def test_one_day_leave_and_removal_by_buttons(world: World) -> None:
    tr = en(world)
    ravi = await coordinator(world)
    await specialist(world, "Dr. Meera Iyer")
    await ravi.send("/roster")
    photo = await ravi.expect()
    await ravi.tap(photo, tr._("📅 One-day change"))
    dialogue = await ravi.expect(tr._("Which specialty?"))
    await ravi.tap(dialogue, tr._("Radiology"))
    step = await ravi.expect_edit(dialogue, tr._("Who?"))
    await ravi.tap(step, "Dr. Meera Iyer")
    step = await ravi.expect_edit(dialogue, tr._("Which date?"))
    await ravi.tap(step, step.button_texts()[0])  # today: Monday 5 January 2026
    step = await ravi.expect_edit(dialogue, tr._("On call or off?"))
    await ravi.tap(step, tr._("Off (leave)"))
    step = await ravi.expect_edit(dialogue, tr._("From what time?"))
    await ravi.tap(step, "00:00")
    step = await ravi.expect_edit(dialogue, tr._("Until what time?"))
    await ravi.tap(step, "24:00")
    await ravi.expect_edit(dialogue, "✅", tr._("(off call)"))
    sunita = await health_worker(world, language="en")
    await sunita.send("/oncall")
    await sunita.expect(tr._("Nobody is on call right now."))

    await ravi.tap(photo, tr._("🗑 Remove a shift"))
    dialogue = await ravi.expect(tr._("Remove a shift"))
    await ravi.tap(dialogue, tr._("Radiology"))
    step = await ravi.expect_edit(dialogue, tr._("Which shift?"))
    leave = next(b for b in step.button_texts() if tr._("(off call)") in b)
    await ravi.tap(step, leave)
    step = await ravi.expect_edit(dialogue, tr._("Remove {shift}?", shift=leave))
    await ravi.tap(step, tr._("🗑 Remove"))
    await ravi.expect_edit(dialogue, "🗑")
    await sunita.send("/oncall")
    await sunita.expect("Dr. Meera Iyer")


async def test_csv_with_errors_then_valid_and_oncall_follows(world: World) -> None:
    tr = en(world)
    ravi = await coordinator(world)
    await specialist(world, "Dr. Meera Iyer")
    arjun = await specialist(world, "Dr. Arjun Rao")
    arjun_id = await user_id(world, arjun)
    bad = (
        HEADER
        + f"{arjun_id},,,radiology,someday,,08:00,20:00,\n"
        + f"{arjun_id},,,radiology,mon,,08:00,08:00,\n"
        + "424242,,,radiology,mon,,08:00,20:00,\n"
    )
    await world.client.send_document(ravi.id, bad.encode(), "roster.csv", mime_type="text/csv")
    reply = await ravi.expect(
        tr.ngettext(
            "❌ Nothing was changed: the file has {n} problem.",
            "❌ Nothing was changed: the file has {n} problems.",
            3,
        )
    )
    text = reply.text or ""
    assert "Line 2, column day: someday is not a day of the week (mon … sun)." in text
    assert "Line 3, column to: A shift cannot start and end at the same time." in text
    assert "Line 4, column user_id: Nobody has the user id 424242." in text
    assert len(await world.services.rosters.list_shifts("radiology")) == 14  # unchanged

    good = HEADER + f"{arjun_id},,Dr. Arjun Rao,radiology,mon,,00:00,24:00,yes\n"
    await world.client.send_document(ravi.id, good.encode("utf-8-sig"), "roster.csv")
    await ravi.expect(tr._("✅ Roster applied."), "1 weekly shift")
    sunita = await health_worker(world, language="en")
    await sunita.send("/oncall")
    reply = await sunita.expect("Dr. Arjun Rao")
    assert "Meera" not in (reply.text or "")

    await ravi.send("/roster_csv")
    document = await ravi.expect()
    assert document.attachment is not None and document.attachment.type == "document"
    data = await world.client.download(document.attachment.file_id)
    assert data.decode("utf-8-sig").startswith(",".join(roster_csv.COLUMNS))
    assert f"{arjun_id},KMC 123456,Dr. Arjun Rao,radiology,mon,,00:00,24:00,yes" in data.decode(
        "utf-8-sig"
    )


async def test_a_health_worker_cannot_change_rosters(world: World) -> None:
    tr = en(world)
    meera = await specialist(world, "Dr. Meera Iyer")
    meera_id = await user_id(world, meera)
    sunita = await health_worker(world, language="en")
    before = await world.services.rosters.list_shifts()
    await sunita.send("/roster")
    await sunita.expect(tr._(rosters.ONLY_COORDINATORS))
    await sunita.send("/roster_csv")
    await sunita.expect(tr._(rosters.ONLY_COORDINATORS))
    hello = await sunita.send("hello")
    tapped = await sunita.tap(hello, f"rx:radiology:{before[0].id}:y", forged=True)
    await sunita.alert(tapped, tr._(rosters.ONLY_COORDINATORS))
    tapped = await sunita.tap(hello, f"rs:radiology:{meera_id}:0:1:2", forged=True)
    await sunita.alert(tapped, tr._(rosters.ONLY_COORDINATORS))
    empty = HEADER + f"{meera_id},,,radiology,mon,,01:00,02:00,\n"
    await world.client.send_document(sunita.id, empty.encode(), "roster.csv")
    reply = await sunita.expect()
    assert tr._("✅ Roster applied.") not in (reply.text or "")
    assert await world.services.rosters.list_shifts() == before


async def test_daily_gap_report_reaches_coordinators(world: World) -> None:
    tr = en(world)
    ravi = await coordinator(world)
    await specialist(world, "Dr. Meera Iyer")
    for shift in await world.services.rosters.list_shifts():
        if shift.weekday == 2:  # nobody on Wednesdays
            await world.services.rosters.remove(shift.id)
    queued = await rosters.report_gaps(world.services)
    assert queued == 1  # through the outbox
    reply = await ravi.expect(tr._("Radiology") + ":")
    assert "07/01 00:00–24:00" in (reply.text or "")
    # the same day again: the outbox already has it, nobody gets it twice
    assert await rosters.report_gaps(world.services) == 0
    await ravi.silence()


async def test_daily_gap_timer_through_the_bot(world: World, clock: ManualClock) -> None:
    """The durable timer as the lead wires it: fires once at 07:00 and schedules tomorrow's."""
    tr = en(world)
    ravi = await coordinator(world)
    await specialist(world, "Dr. Meera Iyer")
    services = world.services
    notifier = rosters.TelegramGapNotifier(services.catalogs, services.directory, services.outbox)
    timers = Timers(world.runtime.db, clock)
    daily = DailyGaps(rosters.coverage_service(services), timers, notifier, at="07:00")
    timer_id = await daily.ensure_scheduled()
    clock.advance(timedelta(hours=21))  # Tuesday 07:00 IST
    assert await daily.fire(timer_id, None, clock.now())
    await ravi.expect(tr._("✅ No gaps in the on-call roster for the next {n} days.", n=7))
    assert not await daily.fire(timer_id, None, clock.now())
    await ravi.silence()
    [following] = await timers.pending()
    assert following.kind == GAP_REPORT
