"""``/stats`` through the emulator: text and chart, 7/30 days, the CSV, refusals."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest

from bot.accounts.directory import UserView
from bot.cases.statistics import LEGS, Statistics, Turnaround
from bot.domain import Role, Status
from bot.handlers import stats
from bot.i18n import Catalogs
from tests.e2e.conftest import World
from tests.e2e.people import coordinator, health_worker, specialist
from tests.e2e.test_routing import submit_case


async def test_coordinator_gets_text_chart_30_days_and_csv(world: World) -> None:
    en, hi = world.catalogs.get("en"), world.catalogs.get("hi")
    ravi = await coordinator(world)
    meera = await specialist(world)
    sunita = await health_worker(world)
    code = await submit_case(world, sunita, with_film=False)
    card = await meera.expect(code)
    await meera.tap(card, en._("Accept"))
    await meera.expect_edit(card, en._("✅ You accepted this case."))
    await sunita.expect(code)
    await world.client.skip_replies(ravi.id)

    await ravi.send("/stats")
    shown = await ravi.expect(
        en.ngettext("📊 {place}, last {n} day", "📊 {place}, last {n} days", 7, place="Dharwad"),
        en._("Cases submitted: {count}, escalated: {escalated}", count="1", escalated="0"),
        en._("By facility:"),
        "PHC Amminabhavi: 1",
        en._("Radiology") + ": 1",
    )
    assert shown.kind == "photo"
    photo = shown.attachments[0]
    assert max(photo.width or 0, photo.height or 0) <= 1280
    png = await world.client.download(photo.file_id)
    assert len(png) < 200_000
    assert [b.text for b in shown.buttons[0]] == ["• 7 days •", "30 days"]

    await ravi.tap(shown, "30 days")
    month = await ravi.expect_edit(
        shown,
        en.ngettext("📊 {place}, last {n} day", "📊 {place}, last {n} days", 30, place="Dharwad"),
    )
    assert month.kind == "photo"
    assert [b.text for b in month.buttons[0]] == ["7 days", "• 30 days •"]

    await ravi.tap(month, en._("CSV for the district office"))
    document = await ravi.expect(
        en.ngettext(
            "Cases of the last {n} day, without patient identifiers.",
            "Cases of the last {n} days, without patient identifiers.",
            30,
        )
    )
    assert document.kind == "document"
    attachment = document.attachments[0]
    assert attachment.file_name is not None and attachment.file_name.endswith("-30d.csv")
    rows = list(
        csv.DictReader(
            io.StringIO((await world.client.download(attachment.file_id)).decode("utf-8-sig"))
        )
    )
    assert [(r["code"], r["facility"], r["status"]) for r in rows] == [
        (code, "PHC Amminabhavi", "accepted")
    ]
    assert "Sunita" not in str(rows) and "Cough" not in str(rows)

    forged = await ravi.tap(month, "st:14", forged=True)
    await ravi.alert(forged, en._("This button is no longer valid."))

    # The health worker (Hindi) is refused, in Hindi, by command and by forged button.
    await sunita.send("/stats")
    refusal = await sunita.expect(hi._("Statistics are only for coordinators."))
    tapped = await sunita.tap(refusal, "stc:7", forged=True)
    await sunita.alert(tapped, hi._("Statistics are only for coordinators."))
    await sunita.silence()


def _user(role: Role, district: str | None = "Dharwad", status: Status = Status.ACTIVE) -> UserView:
    return UserView(1, 2, role, status, "en", "X", None, None, (), district, None)


def test_scope_by_role() -> None:
    assert stats.scope(_user(Role.COORDINATOR)) == "Dharwad"
    assert stats.scope(_user(Role.ADMIN, None)) is None  # administrators see every district
    for refused in (
        None,
        _user(Role.HEALTH_WORKER),
        _user(Role.SPECIALIST),
        _user(Role.COORDINATOR, status=Status.PENDING),
        _user(Role.COORDINATOR, None),
    ):
        with pytest.raises(stats.Refused):
            stats.scope(refused)


def test_caption_fits_with_many_facilities(stats_catalogs: Catalogs) -> None:
    legs = tuple(Turnaround(key, 3, timedelta(minutes=90), timedelta(hours=30)) for key, *_ in LEGS)
    figures = Statistics(
        district=None,
        days=30,
        since=datetime(2026, 1, 1, tzinfo=UTC),
        until=datetime(2026, 1, 30, tzinfo=UTC),
        submitted=12345,
        escalated=3,
        open_by_state=(("submitted", 2), ("offered", 0), ("accepted", 1), ("awaiting_info", 0)),
        open_by_age=(("lt_1h", 1), ("1h_4h", 0), ("4h_24h", 1), ("gt_1d", 1)),
        per_facility=tuple(
            (f"Primary Health Centre number {i} of a long taluk", 40 - i) for i in range(40)
        ),
        per_specialty=(("radiology", 10), ("unknown-code", 2), (None, 1)),
        turnaround=legs,
        per_day=(),
    )
    text = stats.summary(stats_catalogs.get("en"), figures)
    assert len(text) <= stats.CAPTION_LIMIT
    assert "all districts, last 30 days" in text and "12,345" in text
    assert "90 mins / 30 hrs (3 cases)" in text
    assert "others: " in text and "Radiology: 10 · unknown-code: 2 · not recorded: 1" in text
    assert "submitted: 2 · accepted: 1" in text


@pytest.fixture
def stats_catalogs() -> Catalogs:
    return Catalogs()
