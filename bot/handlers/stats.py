"""``/stats``: a district's figures for coordinators (every district for administrators).

One photo: the chart, with the summary as its caption and buttons to switch between 7
and 30 days (the photo is edited in place) and to get the CSV export as a document.
Every tap re-checks the role; the window comes from a fixed set, so forged data changes
nothing. The chart is rendered in a thread so the event loop keeps serving others.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

from babel.dates import format_timedelta
from babel.numbers import format_decimal
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, InputMediaPhoto, Update

from bot.accounts.directory import UserView
from bot.cases import stats_chart
from bot.cases.statistics import PERIODS, Statistics
from bot.domain import SPECIALTIES, Role
from bot.handlers import callbacks
from bot.handlers.context import Ctx, alert, speaker
from bot.i18n import N_, Translator

SHOW, EXPORT = "st", "stc"
CAPTION_LIMIT = 1024
TOP = 5

STATE_LABELS: dict[str, str] = {
    "submitted": N_("submitted"),
    "offered": N_("offered to specialists"),
    "accepted": N_("accepted"),
    "awaiting_info": N_("awaiting information"),
}
AGE_LABELS: dict[str, str] = {
    "lt_1h": N_("under 1 h"),
    "1h_4h": N_("1–4 h"),
    "4h_24h": N_("4–24 h"),
    "gt_1d": N_("over 1 day"),
}


ONLY_COORDINATORS = N_("Statistics are only for coordinators.")
NO_DISTRICT = N_("Your account has no district, so there are no statistics to show.")


class Refused(Exception):
    """Not allowed to see statistics; ``message`` (untranslated) says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def scope(user: UserView | None) -> str | None:
    """The district ``user`` may see (None: all, for administrators); raises ``Refused``."""
    if user is None or not user.is_active or user.role not in (Role.COORDINATOR, Role.ADMIN):
        raise Refused(ONLY_COORDINATORS)
    if user.role is Role.ADMIN:
        return None
    if not user.district:
        raise Refused(NO_DISTRICT)
    return user.district


async def stats(update: Update, ctx: Ctx) -> None:
    """``/stats``: the last 7 days."""
    tr, user = await speaker(update, ctx)
    message = update.effective_message
    if message is None:
        return
    try:
        district = scope(user)
    except Refused as refusal:
        await message.reply_text(tr._(refusal.message))
        return
    figures = await ctx.services.statistics.compute(district, PERIODS[0])
    chart = await render(tr, figures)
    await message.reply_photo(
        chart, caption=summary(tr, figures), reply_markup=keyboard(tr, figures)
    )


async def switch(update: Update, ctx: Ctx) -> None:
    """A 7/30 days button: the same photo, redrawn for that window."""
    query = update.callback_query
    if query is None:
        return
    tr, user = await speaker(update, ctx)
    days = _days(callbacks.parse(query.data, SHOW, 1))
    if days is None:
        await alert(update, tr)
        return
    try:
        district = scope(user)
    except Refused as refusal:
        await alert(update, tr, refusal.message)
        return
    await query.answer()
    figures = await ctx.services.statistics.compute(district, days)
    chart = await render(tr, figures)
    await query.edit_message_media(
        InputMediaPhoto(chart, caption=summary(tr, figures)), reply_markup=keyboard(tr, figures)
    )


async def export(update: Update, ctx: Ctx) -> None:
    """The CSV button: one row per case of the window, without patient identifiers."""
    query = update.callback_query
    if query is None:
        return
    tr, user = await speaker(update, ctx)
    days = _days(callbacks.parse(query.data, EXPORT, 1))
    if days is None:
        await alert(update, tr)
        return
    try:
        district = scope(user)
    except Refused as refusal:
        await alert(update, tr, refusal.message)
        return
    await query.answer()
    data = await ctx.services.statistics.export_csv(district, days)
    today = ctx.services.clock.now().date().isoformat()
    place = (district or "all").replace(" ", "_")
    if query.message is not None:
        await ctx.bot.send_document(
            query.message.chat.id,
            data,
            filename=f"sampark-{place}-{today}-{days}d.csv",
            caption=tr.ngettext(
                "Cases of the last {n} day, without patient identifiers.",
                "Cases of the last {n} days, without patient identifiers.",
                days,
            ),
        )


def _days(parsed: callbacks.Callback | None) -> int | None:
    value = callbacks.int_arg(parsed) if parsed else None
    return value if value in PERIODS else None


async def render(tr: Translator, figures: Statistics) -> bytes:
    """The chart, drawn in a worker thread (matplotlib is CPU-bound)."""
    labels = stats_chart.localised(tr._)
    return await asyncio.to_thread(stats_chart.render, figures, labels)


def keyboard(tr: Translator, figures: Statistics) -> InlineKeyboardMarkup:
    def period(days: int) -> InlineKeyboardButton:
        label = tr.ngettext("{n} day", "{n} days", days)
        if days == figures.days:
            label = "• " + label + " •"
        return InlineKeyboardButton(label, callback_data=callbacks.make(SHOW, days))

    return InlineKeyboardMarkup(
        [
            [period(days) for days in PERIODS],
            [
                InlineKeyboardButton(
                    tr._("CSV for the district office"),
                    callback_data=callbacks.make(EXPORT, figures.days),
                )
            ],
        ]
    )


def summary(tr: Translator, figures: Statistics) -> str:
    """The caption: short lines, numbers and durations in the reader's locale."""

    def num(value: int) -> str:
        return format_decimal(value, locale=tr.locale)

    def span(value: timedelta | None) -> str:
        if value is None:
            return "—"
        return format_timedelta(value, threshold=2, format="short", locale=tr.locale)

    labels = stats_chart.localised(tr._)
    head = tr.ngettext(
        "📊 {place}, last {n} day",
        "📊 {place}, last {n} days",
        figures.days,
        place=figures.district or tr._("all districts"),
    )
    lines = [
        head,
        tr._(
            "Cases submitted: {count}, escalated: {escalated}",
            count=num(figures.submitted),
            escalated=num(figures.escalated),
        ),
        "",
        tr._("Open now: {count}", count=num(figures.open_total)),
    ]
    if figures.open_total:
        lines.append(
            " · ".join(
                f"{tr._(STATE_LABELS[state])}: {num(n)}" for state, n in figures.open_by_state if n
            )
        )
        lines.append(
            tr._("By age:")
            + " "
            + " · ".join(f"{tr._(AGE_LABELS[key])}: {num(n)}" for key, n in figures.open_by_age)
        )
    lines += ["", tr._("Turnaround, median / 90th percentile:")]
    for leg in figures.turnaround:
        lines.append(
            f"{getattr(labels, leg.leg)}: {span(leg.median)} / {span(leg.p90)} ("
            + tr.ngettext("{count} case", "{count} cases", leg.count, count=num(leg.count))
            + ")"
        )
    lines += _reach(tr, figures, num)
    if figures.per_facility:
        lines += ["", tr._("By facility:"), _top(tr, figures.per_facility, num, None)]
    if figures.per_specialty:
        lines += ["", tr._("By specialty:"), _top(tr, figures.per_specialty, num, SPECIALTIES)]
    text = "\n".join(lines)
    return text if len(text) <= CAPTION_LIMIT else text[: CAPTION_LIMIT - 1] + "…"


def _reach(tr: Translator, figures: Statistics, num: Callable[[int], str]) -> list[str]:
    """Broadcasts' reach: how many went out, how many people got them, alerts seen."""
    reach = figures.reach
    if not reach.broadcasts:
        return []
    lines = [
        "",
        tr._(
            "Broadcasts: {count}, reached {reached} of {recipients} people",
            count=num(reach.broadcasts),
            reached=num(reach.reached),
            recipients=num(reach.recipients),
        ),
    ]
    if reach.seen_rate is not None:
        lines.append(
            tr._(
                "Alerts: {count}, seen by {percent} % of recipients",
                count=num(reach.alerts),
                percent=num(round(reach.seen_rate * 100)),
            )
        )
    return lines


def _top(
    tr: Translator,
    pairs: tuple[tuple[str | None, int], ...],
    num: Callable[[int], str],
    names: dict[str, str] | None,
) -> str:
    """The first few ``name count`` pairs and the rest summed as "others"."""
    shown = []
    for name, n in pairs[:TOP]:
        if name is None:
            label = tr._("not recorded")
        elif names is not None and name in names:
            label = tr._(names[name])
        else:
            label = name
        shown.append(f"{label}: {num(n)}")
    rest = sum(n for _name, n in pairs[TOP:])
    if rest:
        shown.append(tr._("others: {count}", count=num(rest)))
    return " · ".join(shown)
