"""Choosing when a broadcast goes: a day of the coming week, a time, once or weekly.

Times are India time (the roster time zone, Asia/Kolkata). The choice so far is kept in the
draft's ``step``: ``when`` → ``when:YYYYMMDD`` → ``when:YYYYMMDDHHMM``.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.i18n import Translator

STEP_WHEN = "when"
DAYS = 7
TIMES = ("0700", "0800", "0900", "1000", "1100", "1200", "1400", "1600", "1800", "2000")
#: a time sooner than this is not offered (the coordinator still has to tap twice)
MARGIN = timedelta(minutes=5)


def is_when_step(step: str | None) -> bool:
    return step is not None and (step == STEP_WHEN or step.startswith(STEP_WHEN + ":"))


def chosen(step: str | None) -> tuple[str | None, str | None]:
    """The day (``YYYYMMDD``) and time (``HHMM``) chosen so far."""
    if not is_when_step(step) or step == STEP_WHEN:
        return None, None
    assert step is not None
    value = step.split(":", 1)[1]
    return value[:8] or None, value[8:12] or None


def moment(day: str, hhmm: str, zone: ZoneInfo) -> datetime:
    """The aware datetime of ``day`` at ``hhmm`` in ``zone``."""
    d = datetime.strptime(day, "%Y%m%d").date()
    return datetime.combine(d, time(int(hhmm[:2]), int(hhmm[2:])), tzinfo=zone)


def times_on(day: str, now: datetime, zone: ZoneInfo) -> list[str]:
    """The offered times of ``day`` that are still ahead."""
    return [t for t in TIMES if moment(day, t, zone) > now + MARGIN]


def days(now: datetime, zone: ZoneInfo) -> list[str]:
    """The coming week's days (``YYYYMMDD``) that still have an offered time."""
    today = now.astimezone(zone).date()
    out = []
    for offset in range(DAYS):
        day = (today + timedelta(days=offset)).strftime("%Y%m%d")
        if times_on(day, now, zone):
            out.append(day)
    return out


def day_label(tr: Translator, day: str) -> str:
    return tr.date(_date(day), "EEE d MMM")


def time_label(hhmm: str) -> str:
    return f"{hhmm[:2]}:{hhmm[2:]}"


def weekday_label(tr: Translator, day: str) -> str:
    return tr.date(_date(day), "EEEE")


def _date(day: str) -> date:
    return date(int(day[:4]), int(day[4:6]), int(day[6:8]))
