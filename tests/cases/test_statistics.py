"""Statistics: exact medians and p90 on known data, windows, districts, a CSV without patients."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from bot.accounts.directory import UserView
from bot.cases.broadcasts import BroadcastService, Kind
from bot.cases.codes import new_code
from bot.cases.escalation import Timers
from bot.cases.statistics import (
    CSV_COLUMNS,
    StatisticsError,
    StatisticsService,
    percentile,
)
from bot.cases.stats_chart import ChartLabels, render
from bot.cases.stats_cli import describe, main
from bot.clock import ManualClock
from bot.config import Settings
from bot.domain import CaseStatus
from bot.handlers.stats import summary
from bot.i18n import Catalogs
from bot.outbox import Outbox
from bot.security.fields import FieldCipher
from bot.security.keys import KeyRing
from bot.storage.database import Database
from bot.storage.models import Case, Facility, OutboxMessage
from tests.cases.conftest import Factory

#: 10:00 in Asia/Kolkata on Monday 2026-01-05 (the ManualClock's start).
NOW = datetime(2026, 1, 5, 4, 30, tzinfo=UTC)
M = timedelta(minutes=1)
H = timedelta(hours=1)


@pytest.fixture
def stats(db: Database, clock: ManualClock) -> StatisticsService:
    return StatisticsService(db, clock)


class Cases:
    """Inserts cases with exact timestamps."""

    def __init__(self, db: Database, worker: UserView) -> None:
        self.db = db
        self.worker = worker

    async def facility(self, name: str, district: str = "Pune") -> int:
        async with self.db.transaction() as session:
            facility = Facility(name=name, district=district)
            session.add(facility)
            await session.flush()
            return facility.id

    async def add(
        self,
        submitted: datetime | None,
        *,
        status: CaseStatus = CaseStatus.SUBMITTED,
        accepted: timedelta | None = None,
        reported: timedelta | None = None,
        acknowledged: timedelta | None = None,
        district: str = "Pune",
        facility_id: int | None = None,
        specialty: str = "radiology",
        escalation_level: int = 0,
        **extra: object,
    ) -> str:
        """A case submitted at ``submitted``; later steps as offsets from submission."""
        code = new_code()
        created = submitted or NOW
        async with self.db.transaction() as session:
            session.add(
                Case(
                    code=code,
                    status=status,
                    health_worker_id=self.worker.id,
                    district=district,
                    facility_id=facility_id,
                    specialty=specialty,
                    urgency="urgent",
                    vitals={},
                    escalation_level=escalation_level,
                    created_at=created,
                    updated_at=created,
                    submitted_at=submitted,
                    accepted_at=submitted + accepted if submitted and accepted else None,
                    reported_at=submitted + reported if submitted and reported else None,
                    acknowledged_at=submitted + acknowledged
                    if submitted and acknowledged
                    else None,
                    **extra,
                )
            )
        return code


@pytest.fixture
async def cases(db: Database, factory: Factory) -> Cases:
    return Cases(db, await factory.health_worker())


def test_percentile_interpolates_like_percentile_cont() -> None:
    assert percentile([], 0.5) is None
    assert percentile([7.0], 0.9) == 7.0
    assert percentile([10, 20, 30, 40, 100], 0.5) == 30
    assert percentile([10, 20, 30, 40, 100], 0.9) == pytest.approx(76)
    assert percentile([1, 2, 3, 4], 0.5) == 2.5


async def test_turnaround_medians_and_p90_are_exact(stats: StatisticsService, cases: Cases) -> None:
    start = NOW - 2 * H * 24
    for minutes in (10, 20, 30, 40, 100):
        await cases.add(
            start,
            status=CaseStatus.ACKNOWLEDGED,
            accepted=minutes * M,
            reported=minutes * M + 2 * H,
            acknowledged=minutes * M + 2 * H + minutes * 2 * M,
        )
    await cases.add(start, status=CaseStatus.OFFERED)  # no accept yet: no durations
    await cases.add(start, status=CaseStatus.ACCEPTED, accepted=60 * M)

    figures = await stats.compute("Pune", 7)

    accept = figures.leg("submit_accept")
    assert accept.count == 6
    assert accept.median == 35 * M  # 10 20 30 40 60 100
    assert accept.p90 == 80 * M  # 60 + 0.5 × 40
    report = figures.leg("accept_report")
    assert (report.count, report.median, report.p90) == (5, 2 * H, 2 * H)
    ack = figures.leg("report_ack")
    assert (ack.count, ack.median, ack.p90) == (5, 60 * M, 152 * M)
    total = figures.leg("submit_report")
    assert (total.count, total.median, total.p90) == (5, 150 * M, 196 * M)
    assert figures.submitted == 7


async def test_window_is_7_or_30_local_days(
    stats: StatisticsService, cases: Cases, clock: ManualClock
) -> None:
    # Local midnight six days ago, Asia/Kolkata: 2025-12-30 00:00 IST = 2025-12-29 18:30 UTC.
    midnight = datetime(2025, 12, 29, 18, 30, tzinfo=UTC)
    await cases.add(midnight, status=CaseStatus.CLOSED)
    await cases.add(midnight - M, status=CaseStatus.CLOSED)  # the day before: 30 days only
    await cases.add(NOW - 20 * 24 * H, status=CaseStatus.CANCELLED)
    await cases.add(NOW - 40 * 24 * H, status=CaseStatus.CLOSED)  # outside both
    await cases.add(None, status=CaseStatus.DRAFT)  # drafts never count

    week = await stats.compute("Pune", 7)
    month = await stats.compute("Pune", 30)

    assert week.since == midnight and week.until == NOW
    assert (week.submitted, month.submitted) == (1, 3)
    assert [d.day for d in week.per_day] == [
        date(2025, 12, 30) + timedelta(days=i) for i in range(7)
    ]
    assert len(month.per_day) == 30
    assert week.per_day[0].by_status == (("closed", 1),)
    assert sum(d.total for d in month.per_day) == 3
    with pytest.raises(StatisticsError):
        await stats.compute("Pune", 14)

    clock.advance(24 * H)  # a day later the oldest day leaves the week
    assert (await stats.compute("Pune", 7)).submitted == 0


async def test_open_cases_by_state_and_age(stats: StatisticsService, cases: Cases) -> None:
    await cases.add(NOW - 30 * M, status=CaseStatus.SUBMITTED)
    await cases.add(NOW - H, status=CaseStatus.OFFERED)  # exactly 1 h: the 1–4 h bucket
    await cases.add(NOW - 2 * H, status=CaseStatus.OFFERED)
    await cases.add(NOW - 5 * H, status=CaseStatus.ACCEPTED, accepted=M)
    await cases.add(NOW - 3 * 24 * H, status=CaseStatus.AWAITING_INFO, accepted=M)
    await cases.add(NOW - 60 * 24 * H, status=CaseStatus.OFFERED)  # still open, long ago
    await cases.add(NOW - 2 * H, status=CaseStatus.REPORTED, accepted=M, reported=H)
    await cases.add(NOW - 2 * H, status=CaseStatus.CANCELLED)

    figures = await stats.compute("Pune", 7)

    assert dict(figures.open_by_state) == {
        "submitted": 1,
        "offered": 3,
        "accepted": 1,
        "awaiting_info": 1,
    }
    assert figures.open_total == 6
    assert figures.open_by_age == (("lt_1h", 1), ("1h_4h", 2), ("4h_24h", 1), ("gt_1d", 2))
    assert figures.submitted == 7  # the 60-day-old case is open but not in the window


async def test_facilities_specialties_escalations(stats: StatisticsService, cases: Cases) -> None:
    phc = await cases.facility("PHC Hadapsar")
    hwc = await cases.facility("HWC Wagholi")
    for _ in range(3):
        await cases.add(NOW - H, facility_id=phc, escalation_level=1)
    await cases.add(NOW - H, facility_id=hwc, specialty="dermatology", escalation_level=2)
    await cases.add(NOW - H, specialty="dermatology")

    figures = await stats.compute("Pune", 7)

    assert figures.per_facility == (("PHC Hadapsar", 3), ("HWC Wagholi", 1), (None, 1))
    assert figures.per_specialty == (("radiology", 3), ("dermatology", 2))
    assert figures.escalated == 4


async def test_districts_are_isolated(stats: StatisticsService, cases: Cases) -> None:
    await cases.add(NOW - H, district="Pune", accepted=10 * M)
    await cases.add(NOW - H, district="Dharwad", accepted=50 * M, escalation_level=1)

    pune = await stats.compute("Pune", 7)
    dharwad = await stats.compute("Dharwad", 7)
    everyone = await stats.compute(None, 7)

    assert (pune.submitted, pune.escalated, pune.leg("submit_accept").median) == (1, 0, 10 * M)
    assert (dharwad.submitted, dharwad.escalated) == (1, 1)
    assert (everyone.submitted, everyone.open_total) == (2, 2)
    assert everyone.leg("submit_accept").median == 30 * M
    assert await stats.compute("Nowhere", 30) == await stats.compute("Nowhere", 30)
    assert (await stats.compute("Nowhere", 30)).open_total == 0
    csv_pune = (await stats.export_csv("Pune", 7)).decode("utf-8-sig")
    assert "Dharwad" not in csv_pune


async def test_csv_has_no_patient_identifiers_or_free_text(
    stats: StatisticsService, cases: Cases
) -> None:
    cipher = FieldCipher(KeyRing.generate())
    name_token = cipher.encrypt("Lakshmi Bai", purpose="patient_name", context="case-1")
    phone_token = cipher.encrypt("9876543210", purpose="patient_phone", context="case-1")
    phc = await cases.facility("=HYPERLINK(1)")
    code = await cases.add(
        NOW - 3 * H,
        status=CaseStatus.REPORTED,
        accepted=30 * M,
        reported=2 * H,
        facility_id=phc,
        patient_name_enc=name_token,
        patient_phone_enc=phone_token,
        patient_abha_enc="v1:k:ABHA-TOKEN-91-2345",
        complaint="Lakshmi Bai coughs blood since March",
        history="Husband Ramesh had TB",
        age_value=61,
        sex="f",
    )

    data = await stats.export_csv("Pune", 7)

    text = data.decode("utf-8-sig")
    for secret in (
        name_token,
        phone_token,
        "ABHA-TOKEN",
        "Lakshmi",
        "9876543210",
        "coughs",
        "Ramesh",
        "61",
    ):
        assert secret not in text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert rows[0]["code"] == code
    assert rows[0]["facility"] == "'=HYPERLINK(1)"  # never a spreadsheet formula
    assert rows[0]["status"] == "reported"
    assert rows[0]["submitted_at"] == "2026-01-05T01:30:00+00:00"
    assert rows[0]["minutes_submit_to_accept"] == "30.0"
    assert rows[0]["minutes_accept_to_report"] == "90.0"
    assert rows[0]["minutes_report_to_acknowledge"] == ""
    assert rows[0]["minutes_submit_to_report"] == "120.0"


async def test_chart_is_a_small_phone_sized_png(stats: StatisticsService, cases: Cases) -> None:
    for hours in range(40):
        await cases.add(NOW - hours * 17 * M * 40, status=CaseStatus.CLOSED, accepted=hours * M)
    for days in (7, 30):
        png = await asyncio.to_thread(render, await stats.compute("Pune", days))
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
        assert max(width, height) <= 1280
        assert len(png) < 200_000
    empty = await asyncio.to_thread(render, await stats.compute("Nowhere", 7))
    assert empty[:4] == b"\x89PNG"


def test_labels_the_font_cannot_draw_fall_back_to_english() -> None:
    hindi = ChartLabels(title_days="प्रतिदिन केस")
    assert hindi.drawable() == ChartLabels()
    french = ChartLabels(title_days="Cas soumis par jour")
    assert french.drawable() == french


@pytest.fixture
def cli_env(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("DATABASE_URL", settings.database_url)


async def test_cli_prints_and_writes_csv_and_chart(
    cli_env: None, cases: Cases, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    now = datetime.now(UTC)  # the CLI runs on the system clock
    code = await cases.add(now - H, status=CaseStatus.ACCEPTED, accepted=20 * M)
    await cases.add(now - H, district="Dharwad")

    status = await asyncio.to_thread(
        main,
        [
            "--district",
            "Pune",
            "--days",
            "30",
            "--csv",
            str(tmp_path / "p.csv"),
            "--chart",
            str(tmp_path / "p.png"),
        ],
    )

    out, _err = capsys.readouterr()
    assert status == 0
    assert "Pune, last 30 days" in out and "submitted\t1" in out
    assert "submission -> accept\t0.3 h" in out
    assert code in (tmp_path / "p.csv").read_text("utf-8-sig")
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"

    status = await asyncio.to_thread(main, ["--days", "14"])
    _out, err = capsys.readouterr()
    assert status == 2 and "sampark stats:" in err


async def test_broadcast_reach_and_alerts_seen(
    db: Database, clock: ManualClock, stats: StatisticsService, factory: Factory
) -> None:
    """Recipients in the district: delivered, blocked, still queued; an alert seen by one."""
    outbox = Outbox(db, clock)
    service = BroadcastService(db, clock, outbox, Timers(db, clock), Catalogs())
    pune = [await factory.health_worker(district="Pune") for _ in range(3)]
    await factory.health_worker(district="Nashik")
    notice = await service.create(None, texts={"en": "Camp"}, segment={})
    await service.send(notice)  # 4 people, 3 in Pune
    alert = await service.create(None, Kind.ALERT, texts={"en": "Flood"}, segment={})
    await service.send(alert)
    async with db.transaction() as session:
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.chat_id != pune[2].telegram_id)
            .values(status="sent")
        )
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.chat_id == pune[2].telegram_id)
            .values(status="blocked")
        )
    assert await service.mark_seen(pune[0].id, alert)
    figures = await stats.compute("Pune", 7)
    reach = figures.reach
    assert (reach.broadcasts, reach.alerts, reach.recipients) == (2, 1, 6)
    assert (reach.reached, reach.blocked) == (4, 2)
    assert (reach.alert_recipients, reach.alert_seen) == (3, 1)
    assert reach.seen_rate == pytest.approx(1 / 3)
    everywhere = (await stats.compute(None, 7)).reach
    assert (everywhere.recipients, everywhere.reached) == (8, 6)
    text = summary(Catalogs().get("en"), figures)
    assert "Broadcasts: 2, reached 4 of 6 people" in text
    assert "Alerts: 1, seen by 33 % of recipients" in text
    assert "broadcasts\t2" in "\n".join(describe(figures))
    clock.advance(timedelta(days=8))  # out of the window
    assert (await stats.compute("Pune", 7)).reach.broadcasts == 0
